import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Provider type `auth0` (Auth0 Management API v2; README "Auth0"). Its errors are
 * `{statusCode, error, message, errorCode}`: the adapter puts `errorCode` in the answer's code
 * and `message` in its message. Token endpoint errors come with their OAuth `error` as code.
 */
export const auth0Table: MappingTable = [
  { when: { code: "session_id_invalid" }, answer: "session id that could change the path (empty, '.', '..', '/', '\\', '%', control characters, over 256); nothing sent", code: Code.InvalidArgument, reason: "SESSION_ID_INVALID" },
  { when: { code: "user_id_invalid" }, answer: "user id that could change the path, or none for a user-wide end; nothing sent", code: Code.InvalidArgument, reason: "USER_ID_INVALID" },
  { when: { httpStatus: 404, code: "inexistent_user" }, answer: 'HTTP 404 inexistent_user "The user does not exist."', code: Code.NotFound, reason: "USER_NOT_FOUND" },
  { when: { httpStatus: 404, message: /user does not exist/i }, answer: 'HTTP 404 "The user does not exist." without an errorCode', code: Code.NotFound, reason: "USER_NOT_FOUND" },
  { when: { httpStatus: 404, message: /session/i }, answer: "HTTP 404 naming the session: no such session (or already ended)", code: Code.NotFound, reason: "SESSION_NOT_FOUND" },
  { when: { httpStatus: 401, code: "invalid_token" }, answer: 'HTTP 401 invalid_token ("Invalid token", "Expired token"), still refused after one token refresh', code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { httpStatus: 403, code: "insufficient_scope" }, answer: 'HTTP 403 insufficient_scope "Insufficient scope, expected any of: delete:sessions" (or read:sessions)', code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 429 }, answer: "HTTP 429 too_many_requests; retried after x-ratelimit-reset", code: Code.Unavailable, reason: "UPSTREAM_RATE_LIMITED", retryable: true },
  // The token endpoint, {base_url}/oauth/token (client credentials).
  { when: { code: "access_denied", message: /global limit has been reached/i }, answer: 'token endpoint access_denied "Global limit has been reached" (HTTP 429, or 500)', code: Code.Unavailable, reason: "UPSTREAM_RATE_LIMITED", retryable: true },
  { when: { httpStatus: 401, code: "access_denied" }, answer: 'token endpoint access_denied (HTTP 401) "Unauthorized": client_id / client_secret refused', code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "invalid_client" }, answer: "token endpoint invalid_client: client_id / client_secret refused", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { httpStatus: 403, code: "access_denied" }, answer: 'token endpoint access_denied (HTTP 403) "Client is not authorized to access …": no client grant for the audience', code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 403, message: /enterprise|plan|not enabled|feature/i }, answer: "HTTP 403: the session endpoints are not in the tenant's plan (Enterprise)", code: Code.FailedPrecondition, reason: "PROVIDER_LICENSE_REQUIRED" },
  { when: { code: "unauthorized_client" }, answer: "token endpoint unauthorized_client (HTTP 403): the client_credentials grant is not enabled for the application", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { code: "invalid_request" }, answer: "token endpoint invalid_request, e.g. an audience that is no API of the tenant", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { httpStatus: 400 }, answer: "HTTP 400 (invalid_uri, invalid_query_string, …): Auth0 refused the id as given", code: Code.InvalidArgument, reason: "UPSTREAM_REJECTED_ARGUMENT" },
  { when: { httpStatus: 401 }, answer: "any other HTTP 401", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { httpStatus: 403 }, answer: "any other HTTP 403", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 404 }, answer: "any other HTTP 404: base_url is not an Auth0 tenant", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
];
