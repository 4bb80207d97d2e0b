/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), as ms since the epoch. */
export function retryAfterTime(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return now + Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : date;
}

/** How long from `now` until the time a Retry-After header names (never below 0); undefined without a readable one. */
export function retryAfterDelayMs(value: string | undefined, now: number): number | undefined {
  const at = retryAfterTime(value, now);
  return at === undefined ? undefined : Math.max(0, at - now);
}
