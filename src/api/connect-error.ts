import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { BadRequest_FieldViolationSchema, BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { codeFromName } from "../status/code-names.js";
import type { Failure } from "../status/failure.js";

/**
 * The one place a domain failure becomes a gRPC status: the code, the message, and as details a
 * google.rpc.BadRequest naming each offending field, a google.rpc.ErrorInfo (reason, domain,
 * metadata) and, when a retry may help, a google.rpc.RetryInfo. REST renders the same error as JSON.
 */
export function toConnectError(failure: Failure): ConnectError {
  const details: ConstructorParameters<typeof ConnectError>[3] & unknown[] = [];
  if (failure.violations.length > 0) {
    details.push({ desc: BadRequestSchema, value: { fieldViolations: failure.violations.map((v) => create(BadRequest_FieldViolationSchema, v)) } });
  }
  details.push({ desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason: failure.reason, domain: failure.domain, metadata: { ...failure.metadata } }) });
  if (failure.retryable) details.push({ desc: RetryInfoSchema, value: { retryDelay: duration(failure.retryAfterMs) } });
  return new ConnectError(failure.message, codeFromName(failure.code), undefined, details);
}

function duration(ms: number | undefined): { seconds: bigint; nanos: number } | undefined {
  if (ms === undefined) return undefined;
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: Math.round(ms % 1000) * 1_000_000 };
}
