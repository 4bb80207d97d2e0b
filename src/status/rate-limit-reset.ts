/**
 * A rate limit's reset header that holds the reset as seconds since the epoch (Okta
 * `X-Rate-Limit-Reset`, Auth0 `x-ratelimit-reset`), as ms since the epoch; undefined when absent or
 * not a number. Unlike Retry-After (retry-after.ts) it names a moment, not a delay.
 */
export function epochResetTime(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d{1,12}(\.\d+)?\s*$/.test(value)) return undefined;
  return Math.ceil(Number(value) * 1000);
}
