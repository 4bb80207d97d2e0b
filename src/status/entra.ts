import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Provider type `entra` (Microsoft Graph v1.0 and the Microsoft identity platform's token
 * endpoint). Graph's errors are `{"error": {"code", "message", "innerError"}}`: `error.code` is the
 * upstream code. The token endpoint's are OAuth 2.0 `{"error", "error_description": "AADSTS<n>: ...",
 * "error_codes"}`: `error` is the upstream code and the AADSTS number leads the message.
 */
export const entraTable: MappingTable = [
  { when: { code: "user_id_missing" }, answer: "request without user_id (Entra ID ends all of a user's sessions, not one); nothing sent", code: Code.InvalidArgument, reason: "USER_ID_REQUIRED" },
  { when: { code: "user_id_invalid" }, answer: "user_id empty, over 256 characters, \".\", \"..\", or with '/', '\\', '%' or a control character; nothing sent", code: Code.InvalidArgument, reason: "USER_ID_INVALID" },
  // Token endpoint (AADSTS codes).
  { when: { code: "invalid_client" }, answer: "token endpoint invalid_client (AADSTS7000215 wrong client_secret, AADSTS7000222 expired secret)", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "unauthorized_client" }, answer: "token endpoint unauthorized_client (AADSTS700016: no such client_id in the tenant)", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "invalid_request", message: /AADSTS900023|AADSTS90002\b/ }, answer: "token endpoint invalid_request AADSTS90002 / AADSTS900023 (no such tenant_id)", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { code: "invalid_scope" }, answer: "token endpoint invalid_scope (AADSTS70011: the scope setting)", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { code: "invalid_request" }, answer: "token endpoint invalid_request, any other AADSTS code", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  // Microsoft Graph.
  { when: { httpStatus: 404, code: "Request_ResourceNotFound" }, answer: "HTTP 404 Request_ResourceNotFound (no such user id or userPrincipalName)", code: Code.NotFound, reason: "USER_NOT_FOUND" },
  { when: { httpStatus: 400, code: "Request_BadRequest" }, answer: "HTTP 400 Request_BadRequest (e.g. an id that is not a GUID or user principal name)", code: Code.InvalidArgument, reason: "USER_ID_INVALID" },
  { when: { httpStatus: 403, code: "Authorization_RequestDenied" }, answer: "HTTP 403 Authorization_RequestDenied (the app lacks User.RevokeSessions.All, or the user is a more privileged admin)", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 401 }, answer: "HTTP 401 InvalidAuthenticationToken (or any other 401), again after one token refresh", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { httpStatus: 403 }, answer: "any other HTTP 403 (e.g. Authorization_IdentityNotFound)", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 429 }, answer: "HTTP 429 TooManyRequests / activityLimitReached, with Retry-After (seconds) as RetryInfo", code: Code.Unavailable, reason: "UPSTREAM_RATE_LIMITED", retryable: true },
  { when: { httpStatus: 404 }, answer: "any other HTTP 404 (wrong graph_url or login_url)", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
];
