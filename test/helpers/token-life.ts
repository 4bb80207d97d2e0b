import { expect, it } from "vitest";
import type { TokenApiFake } from "../fakes/token-api-fake.js";
import { sleep } from "./wait.js";

/** The provider names tokenLifeTests uses, each with a token cache of its own, empty at the start. */
export const TOKEN_LIFE_PROVIDERS = ["t-cache", "t-flight", "t-expiry", "t-401", "t-no-expiry"] as const;

/**
 * The life of a provider's OAuth 2.0 access token, as every adapter with one must keep it: issued,
 * cached across calls, fetched once for concurrent calls, refreshed shortly before expiry, once
 * after a 401, and kept until a 401 when it has no expires_in. `ends(provider, n)` makes `n`
 * successful calls at once through the configured provider of that name (TOKEN_LIFE_PROVIDERS).
 */
export function tokenLifeTests(fake: () => TokenApiFake, ends: (provider: string, n: number) => Promise<void>): void {
  const bearers = () => fake().apiRequests.map((r) => r.headers.authorization);

  it("is cached across calls: one token request for several calls, sent as 'Bearer <token>'", async () => {
    for (let i = 0; i < 4; i++) await ends("t-cache", 1);
    expect(fake().tokenRequests).toHaveLength(1);
    expect(new Set(bearers())).toEqual(new Set([`Bearer ${fake().issued.at(-1)}`]));
  });

  it("is fetched once for calls that need it at the same time", async () => {
    fake().delayTokens(200);
    await ends("t-flight", 6);
    expect(fake().tokenRequests).toHaveLength(1);
    expect(fake().apiRequests).toHaveLength(6);
    expect(new Set(bearers()).size).toBe(1);
  });

  it("is refreshed shortly before it expires (10 % of a short lifetime early)", async () => {
    fake().expiresIn = 3;
    await ends("t-expiry", 1);
    // A token a third into its 3 s lifetime is still used: that time is the subject.
    await sleep(1000);
    await ends("t-expiry", 1);
    expect(fake().tokenRequests).toHaveLength(1);
    // 2.7 s after the first token request the adapter asks for a new token, before the first expires at 3 s.
    // Into the last tenth of the lifetime, where the adapter refreshes: that time is the subject.
    await sleep(Math.max(0, fake().tokenRequests[0]!.receivedAt + 2750 - Date.now()));
    await ends("t-expiry", 1);
    const [first, second] = fake().tokenRequests;
    expect(second).toBeDefined();
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(2700);
    expect(second!.receivedAt - first!.receivedAt).toBeLessThan(3000);
    const seen = bearers();
    expect(seen[2]).not.toBe(seen[0]);
    expect(seen[1]).toBe(seen[0]);
  });

  it("is refreshed once after a 401 and the request sent again", async () => {
    await ends("t-401", 1);
    fake().revokeTokens();
    await ends("t-401", 1);
    expect(fake().tokenRequests).toHaveLength(2);
    const seen = bearers();
    expect(seen).toHaveLength(3);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(`Bearer ${fake().issued.at(-1)}`);
  });

  it("without expires_in is kept until a 401", async () => {
    fake().expiresIn = undefined;
    await ends("t-no-expiry", 3);
    await ends("t-no-expiry", 1);
    expect(fake().tokenRequests).toHaveLength(1);
    fake().revokeTokens();
    await ends("t-no-expiry", 1);
    expect(fake().tokenRequests).toHaveLength(2);
  });
}
