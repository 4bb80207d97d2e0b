import { retryAfterTime } from "../status/retry-after.js";
import type { DeliveryError, DeliveryOutcome } from "../store/outbox-types.js";
import type { ReceiverAnswer } from "./post.js";
import type { Target } from "./targets.js";

export interface RetrySettings {
  retryInitialMs: number;
  retryMaxMs: number;
  /** After a 401 or 403 the next try waits this long. */
  misconfiguredRetryMs: number;
}

/** Longest piece of a receiver's words that is recorded. */
const MAX_MESSAGE_CHARS = 200;

/**
 * What a receiver's answer makes of an attempt (RFC 8935 §2.2-2.4): SSF 202 (webhook: any 2xx)
 * delivered; 400 a permanent failure, with the receiver's `err` when it gives one; 401/403 our
 * credentials refused, retried slowly; 429 and 5xx retried with backoff; anything else a
 * permanent failure. `attempts` counts this one.
 */
export function outcomeOfAnswer(kind: Target["kind"], answer: ReceiverAnswer, attempts: number, s: RetrySettings, now = Date.now()): DeliveryOutcome {
  const { status } = answer;
  if (kind === "ssf" ? status === 202 : status >= 200 && status < 300) return { state: "delivered" };
  if (status === 400) return { state: "failed", lastError: badRequest(answer.text) };
  if (status === 401 || status === 403) {
    const lastError = { status, message: `the receiver refused our credentials${words(answer.text)}` };
    return { state: "pending", lastError, nextAttemptAt: new Date(now + s.misconfiguredRetryMs) };
  }
  if (status === 429 || status >= 500) {
    const lastError = { status, message: `the receiver answered ${status}${words(answer.text)}` };
    return retry(lastError, attempts, s, now, answer.retryAfter);
  }
  const expected = kind === "ssf" ? "202 Accepted" : "a 2xx status";
  return { state: "failed", lastError: { status, message: `the receiver answered ${status}, not ${expected}${words(answer.text)}` } };
}

/** An attempt that got no answer (a timeout, a refused or broken connection) is retried with backoff. */
export function outcomeOfNoAnswer(message: string, attempts: number, s: RetrySettings, now = Date.now()): DeliveryOutcome {
  return retry({ message }, attempts, s, now);
}

/**
 * Exponential backoff with jitter: a random wait between retry_initial_ms and the attempt's ceiling (at most
 * retry_max_ms), so retries of many deliveries do not come in step; never before Retry-After.
 */
function retry(lastError: DeliveryError, attempts: number, s: RetrySettings, now: number, retryAfter?: string): DeliveryOutcome {
  const ceiling = Math.min(s.retryMaxMs, s.retryInitialMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  const backoff = s.retryInitialMs + Math.random() * Math.max(0, ceiling - s.retryInitialMs);
  const at = Math.max(now + backoff, retryAfterTime(retryAfter, now) ?? 0);
  return { state: "pending", lastError, nextAttemptAt: new Date(at) };
}

/** RFC 8935 §2.3: a 400 carries {"err", "description"}; only a well-formed `err` is kept. */
function badRequest(text: string): DeliveryError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const { err, description } = (typeof body === "object" && body !== null ? body : {}) as { err?: unknown; description?: unknown };
  if (typeof err !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(err)) return { status: 400, message: `the receiver refused the event${words(text)}` };
  const said = typeof description === "string" ? words(description) : "";
  return { status: 400, err, message: `the receiver refused the event (${err})${said}` };
}

/** A receiver's words, as recorded: control characters out, whitespace collapsed, cut short. Empty: nothing. */
function words(text: string): string {
  const clean = text.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\s]+/gu, " ").trim();
  if (clean === "") return "";
  const chars = [...clean];
  return `: ${chars.length > MAX_MESSAGE_CHARS ? `${chars.slice(0, MAX_MESSAGE_CHARS).join("")}...` : clean}`;
}
