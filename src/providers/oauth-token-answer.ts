import type { UpstreamAnswer } from "../status/answer.js";
import type { IssuedToken } from "./oauth-token-cache.js";
import { isSuccessStatus, malformedAnswer } from "./upstream-answer.js";
import type { UpstreamResponse } from "./upstream-http.js";

/** The token of a successful OAuth 2.0 token answer (RFC 6749 §5.1), or undefined when there is none. */
export function issuedTokenOf(res: UpstreamResponse): IssuedToken | undefined {
  const body = res.json as Record<string, unknown> | undefined;
  const value = typeof body === "object" && body !== null ? body["access_token"] : undefined;
  if (!isSuccessStatus(res) || typeof value !== "string" || value === "") return undefined;
  // expires_in is optional in OAuth 2.0; some servers send it as a string.
  const raw = body!["expires_in"];
  const expires = typeof raw === "number" || typeof raw === "string" ? Number(raw) : NaN;
  return raw !== "" && Number.isFinite(expires) && expires >= 0 ? { value, expiresInSeconds: expires } : { value };
}

/**
 * A token endpoint's answer: the token, or the answer for the mapping table. An OAuth 2.0 error
 * (RFC 6749 §5.2) has its `error` as the code and its `error_description` as the message.
 */
export function oauthTokenOf(res: UpstreamResponse): IssuedToken | UpstreamAnswer {
  const token = issuedTokenOf(res);
  if (token) return token;
  if (isSuccessStatus(res)) return malformedAnswer(res, "{access_token, expires_in, token_type}");
  const body = res.json as Record<string, unknown> | undefined;
  const error = typeof body === "object" && body !== null && typeof body["error"] === "string" && body["error"] !== "" ? body["error"] : undefined;
  const description = error !== undefined && typeof body!["error_description"] === "string" ? body!["error_description"] : "";
  const message = description || error || res.text.trim().slice(0, 300) || `HTTP ${res.status}`;
  return { httpStatus: res.status, ...(error !== undefined && { code: error }), message };
}
