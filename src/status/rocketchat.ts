import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Provider type `rocketchat` (seed 004). The adapter puts Rocket.Chat's `errorType` (or the
 * `[code]` at the end of `error`) in the answer's code; a second-factor code gets the suffix
 * `:configured` when it was computed from our configured TOTP secret rather than forwarded
 * from the caller's `x-2fa-code` header, since only a forwarded one is the caller's to fix.
 */
export const rocketchatTable: MappingTable = [
  { when: { code: "totp-required" }, answer: "totp-required: the caller sent no x-2fa-code", code: Code.PermissionDenied, reason: "SECOND_FACTOR_REQUIRED" },
  { when: { code: "totp-invalid" }, answer: "totp-invalid: the caller's x-2fa-code is wrong or expired", code: Code.PermissionDenied, reason: "SECOND_FACTOR_INVALID" },
  { when: { code: "totp-required:configured" }, answer: "totp-required although our configured TOTP secret supplied a code", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "totp-invalid:configured" }, answer: "totp-invalid for the code from our configured TOTP secret", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { message: /^You must be logged in to do this\.$/ }, answer: '"You must be logged in to do this." (HTTP 401): our user id / auth token rejected', code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "error-unauthorized" }, answer: "error-unauthorized (HTTP 403): our user lacks logout-device-management / view-device-management", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { code: "error-action-not-allowed", message: /enterprise feature/ }, answer: '"This is an enterprise feature [error-action-not-allowed]" (HTTP 400): no device-management licence', code: Code.FailedPrecondition, reason: "PROVIDER_LICENSE_REQUIRED" },
  { when: { httpStatus: [401, 403], message: /^(unauthorized|forbidden)$/ }, answer: 'HTTP 401 (older: 403) "unauthorized": no device-management licence', code: Code.FailedPrecondition, reason: "PROVIDER_LICENSE_REQUIRED" },
  { when: { message: /^Session not found$/ }, answer: '"Session not found" (HTTP 404, or any status)', code: Code.NotFound, reason: "SESSION_NOT_FOUND" },
  { when: { httpStatus: 401 }, answer: "any other HTTP 401", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
];
