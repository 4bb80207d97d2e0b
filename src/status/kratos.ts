import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Provider type `kratos` (Ory Kratos admin API, session/handler.go; Ory Network). Errors are
 * herodot's `{"error": {"id"?, "code", "status", "reason"?, "message", "request"?}}`: the adapter
 * puts `error.id` in `code` and `message` (with the reason after it) in the message. A missing
 * row (sqlcon.ErrNoRows) is 404 "Unable to locate the resource".
 */
export const kratosTable: MappingTable = [
  { when: { code: "session_id_invalid" }, answer: "session id that is not a UUID; nothing sent", code: Code.InvalidArgument, reason: "SESSION_ID_INVALID" },
  { when: { code: "user_id_invalid" }, answer: "identity id that is not a UUID; nothing sent", code: Code.InvalidArgument, reason: "USER_ID_INVALID" },
  { when: { code: "user_id_missing" }, answer: "all of a user's sessions asked for without a user id; nothing sent", code: Code.InvalidArgument, reason: "USER_ID_REQUIRED" },
  { when: { httpStatus: 404, message: /^Unable to locate the resource/ }, answer: 'HTTP 404 "Unable to locate the resource" (DELETE /admin/sessions/{id}: no such session)', code: Code.NotFound, reason: "SESSION_NOT_FOUND" },
  { when: { httpStatus: 400 }, answer: 'HTTP 400, e.g. "could not parse UUID": Kratos refused an id as sent', code: Code.InvalidArgument, reason: "UPSTREAM_REJECTED_ARGUMENT" },
  { when: { httpStatus: 401 }, answer: "HTTP 401: the Ory Network API key (token) is missing or refused", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { httpStatus: 403 }, answer: "HTTP 403: the API key may not manage this project's sessions", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 404 }, answer: "any other HTTP 404: admin_url is not a Kratos admin API (e.g. the public port)", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
];
