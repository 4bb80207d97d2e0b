import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Provider type `keycloak` (Admin REST API; services/.../admin/RealmAdminResource.java,
 * UsersResource.java, UserResource.java). Keycloak answers errors as `{"error": "<message>"}`
 * (a JAX-RS exception's message, e.g. "Sesssion not found", spelt so), its token endpoint as
 * `{"error": "<OAuth code>", "error_description"}`; the adapter puts an OAuth code in `code` and
 * the words in the message.
 */
export const keycloakTable: MappingTable = [
  { when: { code: "session_id_invalid" }, answer: 'session id that could change the URL path (empty, over 256, ".", "..", "/", "\\", "%", control characters); nothing sent', code: Code.InvalidArgument, reason: "SESSION_ID_INVALID" },
  { when: { code: "user_id_invalid" }, answer: "user id that could change the URL path; nothing sent", code: Code.InvalidArgument, reason: "USER_ID_INVALID" },
  { when: { code: "user_id_missing" }, answer: "all of a user's sessions asked for without a user id; nothing sent", code: Code.InvalidArgument, reason: "USER_ID_REQUIRED" },
  { when: { httpStatus: 404, message: /^Sesssion not found$/ }, answer: 'HTTP 404 "Sesssion not found" (DELETE .../sessions/{session}: no such session)', code: Code.NotFound, reason: "SESSION_NOT_FOUND" },
  { when: { httpStatus: 404, message: /^User not found$/ }, answer: 'HTTP 404 "User not found" (.../users/{id}/logout or /sessions: no such user)', code: Code.NotFound, reason: "USER_NOT_FOUND" },
  { when: { httpStatus: 404, message: /^Realm (not found\.|does not exist)$/ }, answer: 'HTTP 404 "Realm not found." / "Realm does not exist" (the realm setting is wrong)', code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { code: "unauthorized_client", message: /not (enabled|allowed) to retrieve service account/ }, answer: 'token endpoint unauthorized_client "Client not enabled to retrieve service account" (service accounts off for client_id)', code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { code: "invalid_client" }, answer: 'token endpoint HTTP 401 invalid_client "Invalid client or Invalid client credentials" (our client_id / client_secret)', code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "unauthorized_client" }, answer: "token endpoint HTTP 401 unauthorized_client (newer releases' word for a wrong client_secret)", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { httpStatus: 401 }, answer: "any other HTTP 401: our token refused again after one refresh", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { httpStatus: 403 }, answer: "HTTP 403: the service account lacks realm-management manage-users (or view-users to list)", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 404 }, answer: "any other HTTP 404: base_url (or token_url) is not a Keycloak's", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { httpStatus: 400 }, answer: "HTTP 400: Keycloak refused the request as sent", code: Code.FailedPrecondition, reason: "UPSTREAM_REJECTED_REQUEST" },
];
