import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Provider type `luckymonaco` (seed 000, providers.md): `{"error": <code>, "description"}` on
 * HTTP 200, codes normalised to strings; failures outside that contract come as HTTP 4xx/5xx
 * with `{"errors": {code, message}}`, whose message the adapter prefixes with the code
 * ("G.01: ...") so that the class letter can be matched.
 */
export const luckyMonacoTable: MappingTable = [
  { when: { code: "user_id_missing" }, answer: "request without user_id (LuckyMonaco ends a player's sessions); nothing sent", code: Code.InvalidArgument, reason: "USER_ID_REQUIRED" },
  ...["1", "21", "57", "64", "99"].map((code) => ({ when: { code }, answer: `error ${code}: bad or missing parameters`, code: Code.InvalidArgument, reason: "INVALID_ARGUMENT" })),
  ...["12", "22", "62"].map((code) => ({ when: { code }, answer: `error ${code}: player not found`, code: Code.NotFound, reason: "SESSION_NOT_FOUND" })),
  { when: { code: "54" }, answer: "error 54: wrong secureLogin or token (or bad parameters)", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "55" }, answer: "error 55: invalid session", code: Code.NotFound, reason: "SESSION_NOT_FOUND" },
  { when: { code: "56" }, answer: "error 56: player frozen or banned", code: Code.FailedPrecondition, reason: "PLAYER_BLOCKED" },
  { when: { code: "401" }, answer: "error 401: unauthorized (our partner credentials)", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { code: "404" }, answer: "error 404: not found", code: Code.NotFound, reason: "SESSION_NOT_FOUND" },
  // 998 also reports a player who is not there or logged out: only its description tells them apart.
  { when: { code: "998", message: /player not found|logged out/i }, answer: "error 998 \"player not found or logged out\"", code: Code.NotFound, reason: "SESSION_NOT_FOUND" },
  { when: { code: "998" }, answer: "error 998: internal error, retry expected", code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", retryable: true },
  { when: { code: "999" }, answer: "error 999: internal error, not to be retried", code: Code.Internal, reason: "UPSTREAM_INTERNAL_ERROR" },
  { when: { httpStatus: [400, 599], message: /^V\.\w+: / }, answer: "HTTP 4xx/5xx with errors.code V.*: validation", code: Code.InvalidArgument, reason: "INVALID_ARGUMENT" },
  { when: { httpStatus: [400, 599], message: /^G\.\w+: / }, answer: "HTTP 4xx/5xx with errors.code G.*: generic, to be retried", code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", retryable: true },
];
