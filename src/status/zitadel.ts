import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Provider type `zitadel`: SessionService answers. `grpcCode` is the gRPC code Zitadel sent and
 * `code` the id of its zitadel.v1.ErrorDetail (the gRPC code name when it sent none).
 */
export const zitadelTable: MappingTable = [
  {
    when: { grpcCode: Code.PermissionDenied, code: "COMMAND-sGr42" },
    answer: "PERMISSION_DENIED COMMAND-sGr42 (Errors.Session.Token.Invalid): the session token does not match",
    code: Code.PermissionDenied,
    reason: "SESSION_TOKEN_INVALID",
  },
  {
    when: { grpcCode: Code.PermissionDenied, code: "AUTHZ-HKJD33" },
    answer: "PERMISSION_DENIED AUTHZ-HKJD33 (Errors.PermissionDenied): our service user lacks session.delete",
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
  },
  {
    when: { grpcCode: Code.PermissionDenied },
    answer: "any other PERMISSION_DENIED: our service user may not call this",
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
  },
  {
    when: { grpcCode: Code.Unauthenticated },
    answer: "UNAUTHENTICATED, e.g. AUTH-7fs1e (Errors.Token.Invalid): our token is rejected",
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
  },
  {
    when: { grpcCode: Code.NotFound, message: /^unable to set instance using origin/ },
    answer: "NOT_FOUND \"unable to set instance using origin\": base_url is not a domain of a Zitadel instance",
    code: Code.FailedPrecondition,
    reason: "PROVIDER_INSTANCE_NOT_FOUND",
  },
  {
    when: { grpcCode: Code.NotFound },
    answer: "any other NOT_FOUND: no such session",
    code: Code.NotFound,
    reason: "SESSION_NOT_FOUND",
  },
  {
    when: { grpcCode: Code.InvalidArgument },
    answer: "INVALID_ARGUMENT: Zitadel refused the session id or token as given",
    code: Code.InvalidArgument,
    reason: "UPSTREAM_REJECTED_ARGUMENT",
  },
  {
    when: { grpcCode: Code.FailedPrecondition },
    answer: "FAILED_PRECONDITION: Zitadel's state does not allow the call",
    code: Code.FailedPrecondition,
    reason: "UPSTREAM_FAILED_PRECONDITION",
  },
  {
    when: { grpcCode: Code.Unimplemented },
    answer: "UNIMPLEMENTED: no SessionService v2 at base_url (wrong URL or a Zitadel older than v2)",
    code: Code.FailedPrecondition,
    reason: "PROVIDER_API_UNSUPPORTED",
  },
  {
    when: { grpcCode: Code.Unavailable },
    answer: "UNAVAILABLE from Zitadel",
    code: Code.Unavailable,
    reason: "UPSTREAM_UNAVAILABLE",
    retryable: true,
  },
  {
    when: { grpcCode: Code.ResourceExhausted },
    answer: "RESOURCE_EXHAUSTED: rate limit or quota",
    code: Code.Unavailable,
    reason: "UPSTREAM_RESOURCE_EXHAUSTED",
    retryable: true,
  },
  {
    when: { grpcCode: Code.Aborted },
    answer: "ABORTED: a concurrent change in Zitadel",
    code: Code.Unavailable,
    reason: "UPSTREAM_ABORTED",
    retryable: true,
  },
  {
    when: { grpcCode: Code.Internal },
    answer: "INTERNAL: Zitadel failed, e.g. its database",
    code: Code.Unavailable,
    reason: "UPSTREAM_INTERNAL_ERROR",
    retryable: true,
  },
  {
    when: { grpcCode: Code.DeadlineExceeded },
    answer: "DEADLINE_EXCEEDED inside Zitadel",
    code: Code.DeadlineExceeded,
    reason: "UPSTREAM_DEADLINE_EXCEEDED",
    retryable: true,
  },
];
