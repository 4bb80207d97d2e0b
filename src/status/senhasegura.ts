import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Provider type `senhasegura` (seed 003, providers.md). Answers are told by their message more
 * than by their status: the same message may come with its documented status, with another one,
 * or in the body of an HTTP 200 (`response.error: true`), so the message rows name no status.
 * The adapter joins every message field of a reply (message, detail, mensagem, ...) with " / ".
 */
export const senhaseguraTable: MappingTable = [
  { when: { code: "session_id_invalid" }, answer: "session id that is not a senhasegura hash (1 to 128 of A-Z a-z 0-9 _ -); nothing sent", code: Code.InvalidArgument, reason: "SESSION_ID_INVALID" },
  { when: { message: /Client authentication failed/i }, answer: '"Client authentication failed." (our client_id / client_secret)', code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { message: /Invalid signature/i }, answer: '"Invalid signature" (our token or client application not recognised)', code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  // A 500, but the cure is a permission in our A2A authorization: retrying cannot help.
  { when: { message: /not authorized to access this resource/i }, answer: 'HTTP 500 "You are not authorized to access this resource."', code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  // The seed's cure is "check the session_id": there is no live session by that hash (unknown or already ended).
  { when: { message: /error occurred while dropp?ing session/i }, answer: 'HTTP 500 "An error occurred while droping session." (no live session by that id)', code: Code.NotFound, reason: "SESSION_NOT_FOUND" },
  // The gateway routes on the authorization header: without one no route matches. We always send one.
  { when: { message: /No route matched with those values/i }, answer: '"No route matched with those values." (the gateway saw no authorization header)', code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  // The seed's cause is a wrong URL or resource: the id is a validated hash, so base_url or a path setting is wrong.
  { when: { message: /Resource sub not found/i }, answer: 'HTTP 404 "Resource sub not found" (wrong base_url, path_prefix, sessions_path or token_path)', code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
  { when: { message: /Request timed out/i }, answer: '"Request timed out."', code: Code.DeadlineExceeded, reason: "UPSTREAM_TIMEOUT", retryable: true },
  { when: { message: /Unexpected error/i }, answer: 'HTTP 500 "Unexpected error."', code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", retryable: true },
  { when: { httpStatus: 401 }, answer: "any other HTTP 401: still refused after one token refresh, or from the token endpoint", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" },
  { when: { httpStatus: 403 }, answer: "any other HTTP 403", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING" },
  { when: { httpStatus: 404 }, answer: "any other HTTP 404 (the seed: the URL or resource is wrong)", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED" },
];
