import type { UpstreamAnswer } from "../status/answer.js";
import { epochResetTime } from "../status/rate-limit-reset.js";
import { retryAfterTime } from "../status/retry-after.js";
import type { IssuedToken } from "./oauth-token-cache.js";
import type { UpstreamResponse } from "./upstream-http.js";

/** Whether the upstream answered with a 2xx status. */
export function isSuccessStatus(res: UpstreamResponse): boolean {
  return res.status >= 200 && res.status < 300;
}

/** A 2xx answer whose body is not `documented`, the shape the upstream promises. */
export function malformedAnswer(res: UpstreamResponse, documented: string): UpstreamAnswer {
  return { httpStatus: res.status, code: "transport.malformed", message: `HTTP ${res.status} with a body that is not ${documented}` };
}

/** An answer in none of the upstream's documented shapes: malformed on a 2xx, otherwise only its status counts. */
export function undocumentedAnswer(res: UpstreamResponse, documented: string): UpstreamAnswer {
  return isSuccessStatus(res) ? malformedAnswer(res, documented) : { httpStatus: res.status, message: `HTTP ${res.status}` };
}

/** Longest wait an upstream's Retry-After is taken for; beyond it the answer says "later", not when. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/** The upstream's Retry-After (delay-seconds or an HTTP date), as ms from now; undefined when it sent none that can be read. */
export function retryAfterOf(res: UpstreamResponse, now = Date.now()): number | undefined {
  return waitUntil(retryAfterTime(res.headers["retry-after"], now), now);
}

/**
 * When to retry, by the one rule for every upstream: its Retry-After first, then on a 429 the
 * vendor's rate-limit reset header (`resetHeader` in lower case, epoch seconds); undefined when neither can be read.
 */
export function retryWaitOf(res: UpstreamResponse, resetHeader?: string, now = Date.now()): number | undefined {
  const retryAfter = retryAfterOf(res, now);
  if (retryAfter !== undefined || res.status !== 429 || resetHeader === undefined) return retryAfter;
  return waitUntil(epochResetTime(res.headers[resetHeader]), now);
}

/** Ms from `now` until `at`, never below 0 nor beyond MAX_RETRY_AFTER_MS. */
function waitUntil(at: number | undefined, now: number): number | undefined {
  return at === undefined ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - now));
}

/** The answer with every secret cut out of its message: an upstream may echo what we sent. */
export function withoutSecrets(answer: UpstreamAnswer, secrets: readonly (string | undefined)[]): UpstreamAnswer {
  // As sent and as a form or a URL carries them (an echo of our request), and a start of one where a message was cut short.
  const forms = secrets.filter((s): s is string => !!s).flatMap((s) => [...new Set([s, encodeURIComponent(s), new URLSearchParams({ s }).toString().slice(2)])]);
  let message = forms.reduce((m, s) => m.split(s).join("[secret]"), answer.message);
  for (const s of forms) {
    for (let n = Math.min(s.length - 1, message.length); n >= MIN_SECRET_PREFIX; n--) {
      if (message.endsWith(s.slice(0, n))) {
        message = `${message.slice(0, -n)}[secret]`;
        break;
      }
    }
  }
  return { ...answer, message };
}

/** The shortest start of a secret cut out at a message's end: shorter ones are too likely to be ordinary text. */
const MIN_SECRET_PREFIX = 4;

/** The token endpoint's success answer (RFC 6749 §5.1): the token; undefined for anything else. */
export function issuedTokenOf(res: UpstreamResponse): IssuedToken | undefined {
  const body = res.json as Record<string, unknown> | undefined;
  const value = typeof body === "object" && body !== null ? body["access_token"] : undefined;
  if (!isSuccessStatus(res) || typeof value !== "string" || value === "") return undefined;
  // expires_in is optional in OAuth 2.0; some servers send it as a string.
  const raw = body!["expires_in"];
  const expires = typeof raw === "number" || typeof raw === "string" ? Number(raw) : NaN;
  return raw !== "" && Number.isFinite(expires) && expires >= 0 ? { value, expiresInSeconds: expires } : { value };
}
