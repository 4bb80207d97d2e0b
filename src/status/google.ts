import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Provider type `google` (Admin SDK Directory API, Google's OAuth 2.0 token endpoint). API errors
 * are `{"error": {"code", "message", "errors": [{"reason", "domain", "message"}], "status"}}`: the
 * first `errors[].reason` is the upstream code (else `status`). Token errors are OAuth 2.0
 * `{"error", "error_description"}`: `error` is the upstream code.
 */
export const googleTable: MappingTable = [
  { when: { code: "user_id_missing" }, answer: "request without user_id (Google ends all of a user's sessions, not one); nothing sent", code: Code.InvalidArgument, reason: "USER_ID_REQUIRED" },
  { when: { code: "user_id_invalid" }, answer: "user_id empty, over 256 characters, \".\", \"..\", or with '/', '\\', '%' or a control character; nothing sent", code: Code.InvalidArgument, reason: "USER_ID_INVALID" },
  // Token endpoint.
  { when: { code: "invalid_grant", message: /Invalid email or User ID/i }, answer: 'token endpoint invalid_grant "Invalid email or User ID" (subject is no user of the domain)', code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { code: "invalid_grant" }, answer: "token endpoint invalid_grant (bad signature, unknown or deleted key, clock skew)", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "invalid_client" }, answer: "token endpoint invalid_client (the service account or its key is disabled or gone)", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "unauthorized_client" }, answer: "token endpoint unauthorized_client (no domain-wide delegation of the admin.directory.user.security scope)", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { code: "access_denied" }, answer: "token endpoint access_denied (the subject may not grant the scope)", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  // Admin SDK Directory API.
  { when: { code: "notFound" }, answer: 'HTTP 404 notFound "Resource Not Found: userKey" (no such user)', code: Code.NotFound, reason: "USER_NOT_FOUND" },
  { when: { code: "invalid" }, answer: 'HTTP 400 invalid "Invalid Input: userKey"', code: Code.InvalidArgument, reason: "USER_ID_INVALID" },
  { when: { code: "userRateLimitExceeded" }, answer: "HTTP 403/429 userRateLimitExceeded, with Retry-After as RetryInfo when sent", code: Code.Unavailable, reason: "UPSTREAM_RATE_LIMITED", retryable: true },
  { when: { code: "rateLimitExceeded" }, answer: "HTTP 403/429 rateLimitExceeded, with Retry-After as RetryInfo when sent", code: Code.Unavailable, reason: "UPSTREAM_RATE_LIMITED", retryable: true },
  { when: { code: "quotaExceeded" }, answer: "HTTP 403/429 quotaExceeded, with Retry-After as RetryInfo when sent", code: Code.Unavailable, reason: "UPSTREAM_RATE_LIMITED", retryable: true },
  { when: { code: "accessNotConfigured" }, answer: "HTTP 403 accessNotConfigured (the Admin SDK API is not enabled in the key's project)", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { code: "forbidden" }, answer: 'HTTP 403 forbidden "Not Authorized to access this resource/api" (the subject is no admin with user security rights)', code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { code: "insufficientPermissions" }, answer: "HTTP 403 insufficientPermissions (the token lacks the scope)", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 401 }, answer: 'HTTP 401 authError "Invalid Credentials" (or any other 401), again after one token refresh', code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { httpStatus: 403 }, answer: "any other HTTP 403", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 429 }, answer: "any other HTTP 429, with Retry-After as RetryInfo when sent", code: Code.Unavailable, reason: "UPSTREAM_RATE_LIMITED", retryable: true },
  { when: { httpStatus: 404 }, answer: "any other HTTP 404 (wrong base_url or token_url)", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
];
