/** Retry-After as delay-seconds or an HTTP date (RFC 9110 §10.2.3), as ms since the epoch. */
export function retryAfterTime(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return now + Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : date;
}
