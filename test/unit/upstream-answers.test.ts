import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { auth0Answer } from "../../src/providers/auth0.js";
import { oktaAnswer } from "../../src/providers/okta.js";
import { countOpenSessions, newSessions } from "../../src/providers/one-or-all.js";
import { oauthTokenOf } from "../../src/providers/token-endpoint.js";
import { retryWaitOf, withoutSecrets } from "../../src/providers/upstream-answer.js";
import type { UpstreamResponse } from "../../src/providers/upstream-http.js";
import { ProviderFailure } from "../../src/status/provider-failure.js";
import type { MappingTable } from "../../src/status/table.js";

const SECRET = "s3cr~et/with+odd=chars";
const TABLE: MappingTable = [{ when: { httpStatus: 401 }, answer: "HTTP 401", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" }];

describe("an upstream's words, as they reach callers", () => {
  it("lose our secrets as sent, as a form or a URL carries them, and a start of one where the message was cut", () => {
    const cases = [
      `bad token ${SECRET} given`,
      `client_secret=${new URLSearchParams({ s: SECRET }).toString().slice(2)}&grant_type=client_credentials`,
      `path /x/${encodeURIComponent(SECRET)}/y`,
      `got SSWS ${SECRET.slice(0, 10)}`,
    ];
    for (const message of cases) {
      const cleaned = withoutSecrets({ httpStatus: 401, message }, [SECRET, undefined]).message;
      expect(cleaned, message).toContain("[secret]");
      expect(cleaned, message).not.toContain(SECRET.slice(0, 5));
    }
    // Ordinary text is left alone.
    expect(withoutSecrets({ httpStatus: 401, message: "invalid_client" }, [SECRET]).message).toBe("invalid_client");
  });

  it("are bounded in the failure's message and ErrorInfo metadata", () => {
    const f = new ProviderFailure("idp", { httpStatus: 401, message: "x".repeat(2_000_000) }, TABLE);
    expect(f.message.length).toBeLessThan(600);
    expect(f.metadata["upstream_message"]!.length).toBeLessThan(600);
    expect(f.reason).toBe("PROVIDER_CREDENTIALS_REJECTED");
  });
});

describe("listing page by page", () => {
  it("never counts a session twice, so a page seen again (a cursor leading back) adds nothing and ends the listing", () => {
    const s = (id: string) => ({ sessionId: id, userId: "u", active: true });
    const listed = [s("a"), s("b")];
    expect(newSessions(listed, [s("b"), s("c"), s("c")])).toEqual([s("c")]);
    expect(newSessions(listed, [s("a"), s("b")])).toEqual([]);
  });

  it("counts the open sessions before a user-wide end only when the listing reached the user's last one", async () => {
    const sessions = [{ sessionId: "a", userId: "u", active: true }, { sessionId: "b", userId: "u", active: false }];
    expect(await countOpenSessions(Promise.resolve({ sessions, complete: true }))).toBe(1);
    expect(await countOpenSessions(Promise.resolve({ sessions, complete: false }))).toBeUndefined();
  });
});

describe("when to retry, by one rule for every upstream", () => {
  const answer = (status: number, headers: Record<string, string>): UpstreamResponse => ({ status, json: undefined, text: "", headers });
  const resetIn30s = () => String(Math.floor(Date.now() / 1000) + 30);

  it("takes Retry-After first, then on a 429 the vendor's reset header", () => {
    const now = Date.now();
    const reset = String(Math.floor(now / 1000) + 30);
    expect(retryWaitOf(answer(429, { "retry-after": "5", "x-rate-limit-reset": reset }), "x-rate-limit-reset", now)).toBe(5_000);
    expect(retryWaitOf(answer(429, { "x-rate-limit-reset": reset }), "x-rate-limit-reset", now)).toBe(Number(reset) * 1000 - now);
    expect(retryWaitOf(answer(503, { "retry-after": "5" }), "x-rate-limit-reset", now)).toBe(5_000);
    // The reset header says when a rate limit resets: it is read on a 429 only.
    expect(retryWaitOf(answer(503, { "x-rate-limit-reset": reset }), "x-rate-limit-reset", now)).toBeUndefined();
    expect(retryWaitOf(answer(429, { "x-rate-limit-reset": reset }), undefined, now)).toBeUndefined();
    expect(retryWaitOf(answer(429, { "retry-after": "soon", "x-rate-limit-reset": "later" }), "x-rate-limit-reset", now)).toBeUndefined();
  });

  it("holds alike for Okta's and Auth0's API answers and for their token endpoints'", () => {
    const readers: [string, string, (res: UpstreamResponse) => number | undefined][] = [
      ["okta", "x-rate-limit-reset", (res) => oktaAnswer(res).retryAfterMs],
      ["auth0", "x-ratelimit-reset", (res) => auth0Answer(res).retryAfterMs],
      ["token endpoint", "x-ratelimit-reset", (res) => {
        const token = oauthTokenOf(res, "x-ratelimit-reset");
        return "message" in token ? token.retryAfterMs : undefined;
      }],
    ];
    for (const [name, header, retryAfterMs] of readers) {
      expect(retryAfterMs(answer(429, { "retry-after": "5", [header]: resetIn30s() })), name).toBe(5_000);
      expect(retryAfterMs(answer(429, { [header]: resetIn30s() })), name).toBeGreaterThan(25_000);
      expect(retryAfterMs(answer(503, { "retry-after": "7" })), name).toBe(7_000);
      expect(retryAfterMs(answer(503, { [header]: resetIn30s() })), name).toBeUndefined();
    }
  });
});
