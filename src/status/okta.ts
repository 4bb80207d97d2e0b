import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Provider type `okta` (Okta Management API; README "Okta"). The adapter puts Okta's `errorCode`
 * (E00000xx) in the answer's code and its `errorSummary` (with the `errorCauses`) in the
 * message; an answer without Okta's error body gets the `error` of its WWW-Authenticate header,
 * if any. Token endpoint errors (OAuth 2.0 service app) come with their OAuth `error` as code.
 */
export const oktaTable: MappingTable = [
  { when: { code: "session_id_invalid" }, answer: "session id that could change the path (empty, '.', '..', '/', '\\', '%', control characters, over 256); nothing sent", code: Code.InvalidArgument, reason: "SESSION_ID_INVALID" },
  { when: { code: "user_id_invalid" }, answer: "user id that could change the path, or none for a user-wide end; nothing sent", code: Code.InvalidArgument, reason: "USER_ID_INVALID" },
  { when: { code: "E0000007", message: /\(User\)/ }, answer: 'E0000007 (HTTP 404) "Not found: Resource not found: … (User)": no such user', code: Code.NotFound, reason: "USER_NOT_FOUND" },
  { when: { code: "E0000007" }, answer: "E0000007 (HTTP 404) Not found: no such session (or already ended)", code: Code.NotFound, reason: "SESSION_NOT_FOUND" },
  { when: { code: "E0000011" }, answer: "E0000011 (HTTP 401) Invalid token provided: our API token or access token, still refused after one token refresh", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "E0000004" }, answer: "E0000004 (HTTP 401) Authentication failed", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "E0000006" }, answer: "E0000006 (HTTP 403) You do not have permission to perform the requested action: the API token's admin role, or the access token's scopes (okta.sessions.manage, okta.users.manage)", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { code: "insufficient_scope" }, answer: 'HTTP 403 with WWW-Authenticate error="insufficient_scope": the access token lacks a scope', code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { code: "invalid_token" }, answer: 'HTTP 401 with WWW-Authenticate error="invalid_token"', code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "E0000047" }, answer: "E0000047 (HTTP 429) API call exceeded rate limit; retried after X-Rate-Limit-Reset", code: Code.Unavailable, reason: "UPSTREAM_RATE_LIMITED", retryable: true },
  { when: { code: "E0000001" }, answer: "E0000001 (HTTP 400) API validation failed", code: Code.InvalidArgument, reason: "UPSTREAM_REJECTED_ARGUMENT" },
  { when: { code: "E0000009" }, answer: "E0000009 (HTTP 500) Internal Server Error", code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", retryable: true },
  { when: { code: "E0000010" }, answer: "E0000010 (HTTP 503) Service is in read only mode", code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", retryable: true },
  // The token endpoint of the org authorization server (OAuth 2.0 service app, private_key_jwt).
  { when: { code: "invalid_client" }, answer: "token endpoint invalid_client (HTTP 401): client_id unknown, or the client assertion's key or claims refused", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "invalid_scope" }, answer: "token endpoint invalid_scope (HTTP 400): okta.sessions.manage / okta.users.manage not granted to the service app", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { code: "unauthorized_client" }, answer: "token endpoint unauthorized_client (HTTP 400): the app may not use the client_credentials grant", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { code: "invalid_dpop_proof" }, answer: "token endpoint invalid_dpop_proof (HTTP 400): the service app requires DPoP, which this provider does not send", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { httpStatus: 401 }, answer: "any other HTTP 401", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { httpStatus: 403 }, answer: "any other HTTP 403", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 404 }, answer: "HTTP 404 without Okta's error body: base_url is not an Okta org", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
];
