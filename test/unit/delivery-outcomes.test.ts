import { describe, expect, it } from "vitest";
import { outcomeOfAnswer, outcomeOfNoAnswer } from "../../src/notify/classify.js";

const s = { retryInitialMs: 1_000, retryMaxMs: 60_000, misconfiguredRetryMs: 600_000 };
const NOW = Date.parse("2025-06-01T00:00:00Z");
const answer = (status: number, text = "", retryAfter?: string) => ({ status, text, ...(retryAfter !== undefined && { retryAfter }) });

describe("what a receiver's answer makes of a delivery (RFC 8935 §2.2-2.4)", () => {
  it("takes only 202 from an SSF receiver, and any 2xx from a webhook", () => {
    expect(outcomeOfAnswer("ssf", answer(202), 1, s, NOW)).toEqual({ state: "delivered" });
    expect(outcomeOfAnswer("webhook", answer(204), 1, s, NOW)).toEqual({ state: "delivered" });
    expect(outcomeOfAnswer("ssf", answer(200, "ok"), 1, s, NOW)).toEqual({ state: "failed", lastError: { status: 200, message: "the receiver answered 200, not 202 Accepted: ok" } });
    expect(outcomeOfAnswer("webhook", answer(302), 1, s, NOW)).toEqual({ state: "failed", lastError: { status: 302, message: "the receiver answered 302, not a 2xx status" } });
  });

  it("fails a 400 and any other 4xx for good, keeping only a well-formed err and a short, clean description", () => {
    expect(outcomeOfAnswer("ssf", answer(400, '{"err":"invalid_key","description":"unknown kid"}'), 1, s, NOW).lastError).toEqual({ status: 400, err: "invalid_key", message: "the receiver refused the event (invalid_key): unknown kid" });
    expect(outcomeOfAnswer("ssf", answer(400, '{"err":"bad err\\n","description":"x"}'), 1, s, NOW)).toEqual({ state: "failed", lastError: { status: 400, message: 'the receiver refused the event: {"err":"bad err\\n","description":"x"}' } });
    const long = outcomeOfAnswer("ssf", answer(400, JSON.stringify({ err: "invalid_request", description: "\u001b[31m" + "é".repeat(500) })), 1, s, NOW);
    expect(long.lastError!.message).toBe(`the receiver refused the event (invalid_request): [31m${"é".repeat(196)}...`);
    expect(outcomeOfAnswer("webhook", answer(404, "<html>nope</html>"), 1, s, NOW)).toEqual({ state: "failed", lastError: { status: 404, message: "the receiver answered 404, not a 2xx status: <html>nope</html>" } });
  });

  it("retries 401 and 403 after misconfigured_retry_ms", () => {
    for (const status of [401, 403]) {
      expect(outcomeOfAnswer("ssf", answer(status), 7, s, NOW)).toEqual({ state: "pending", lastError: { status, message: "the receiver refused our credentials" }, nextAttemptAt: new Date(NOW + 600_000) });
    }
  });

  it("retries 429, 5xx and no answer with backoff and full jitter, between retry_initial_ms and a ceiling doubling up to retry_max_ms", () => {
    for (let attempts = 1; attempts <= 12; attempts++) {
      const ceiling = Math.min(60_000, 1_000 * 2 ** (attempts - 1));
      for (const o of [outcomeOfAnswer("ssf", answer(503), attempts, s, NOW), outcomeOfAnswer("webhook", answer(429), attempts, s, NOW), outcomeOfNoAnswer("down", attempts, s, NOW)]) {
        expect(o.state).toBe("pending");
        const delay = o.nextAttemptAt!.getTime() - NOW;
        expect(delay).toBeGreaterThanOrEqual(1_000);
        expect(delay).toBeLessThanOrEqual(ceiling);
      }
    }
    expect(outcomeOfNoAnswer("could not reach the receiver (ECONNREFUSED)", 1, s, NOW).lastError).toEqual({ message: "could not reach the receiver (ECONNREFUSED)" });
  });

  it("honours Retry-After in seconds or as an HTTP date, and ignores one that is neither", () => {
    expect(outcomeOfAnswer("ssf", answer(503, "", "120"), 1, s, NOW).nextAttemptAt).toEqual(new Date(NOW + 120_000));
    expect(outcomeOfAnswer("ssf", answer(429, "", "Sun, 01 Jun 2025 00:10:00 GMT"), 1, s, NOW).nextAttemptAt).toEqual(new Date(NOW + 600_000));
    const junk = outcomeOfAnswer("ssf", answer(429, "", "soon"), 1, s, NOW).nextAttemptAt!.getTime() - NOW;
    expect(junk).toBeLessThanOrEqual(1_000);
  });
});
