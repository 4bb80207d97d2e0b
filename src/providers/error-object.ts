import type { UpstreamAnswer } from "../status/answer.js";
import { retryAfterOf, undocumentedAnswer } from "./upstream-answer.js";
import type { UpstreamResponse } from "./upstream-http.js";

type Json = Record<string, unknown>;

/** Longest upstream message kept: an HTML error page is not a message. */
const MAX_MESSAGE = 300;

/**
 * The answer of an API whose errors are `{"error": {"code", "message", ...}}` (Microsoft Graph,
 * Google's APIs): its status, the vendor's code that `codeOf` picks from the error object, its
 * message, and the wait its Retry-After header names. Any other body: malformed on a 2xx,
 * otherwise only its status counts.
 */
export function errorObjectAnswer(res: UpstreamResponse, codeOf: (error: Json) => string | undefined, documented: string): UpstreamAnswer {
  const retryAfterMs = retryAfterOf(res);
  const retry = retryAfterMs !== undefined ? { retryAfterMs } : {};
  const error = objectOf(objectOf(res.json)?.["error"]);
  if (!error) return { ...undocumentedAnswer(res, documented), ...retry };
  const code = codeOf(error);
  const message = typeof error["message"] === "string" && error["message"].trim() !== "" ? error["message"].trim().slice(0, MAX_MESSAGE) : `HTTP ${res.status}`;
  return { httpStatus: res.status, ...(code !== undefined && code !== "" && { code }), message, ...retry };
}

export function objectOf(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}
