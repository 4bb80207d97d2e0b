import type { UpstreamResponse } from "./upstream-http.js";

/** Longest wait taken from an upstream's reset header; a later reset (or a skewed clock) is cut to this. */
const MAX_RESET_MS = 3_600_000;

/**
 * The time until a rate limit resets, from a header holding the reset as seconds since the epoch
 * (Okta `X-Rate-Limit-Reset`, Auth0 `x-ratelimit-reset`); undefined when absent or not a number.
 */
export function epochResetDelayMs(res: UpstreamResponse, header: string, now = Date.now()): number | undefined {
  const raw = res.headers[header.toLowerCase()];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || !/^\s*\d+(\.\d+)?\s*$/.test(value)) return undefined;
  return Math.min(MAX_RESET_MS, Math.max(0, Math.ceil(Number(value) * 1000 - now)));
}
