import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import type { Provider } from "../../src/providers/provider.js";
import { buildProviders } from "../../src/providers/registry.js";
import { SqliteStores } from "../../src/store/sqlite.js";
import type { OAuthApiFake } from "../fakes/oauth-api-fake.js";
import { sleep } from "./wait.js";

/** The providers of a test service built once more, outside it, to call `terminate` and `listUserSessions` directly. */
export class DirectProviders {
  private constructor(
    private readonly providers: Map<string, Provider>,
    private readonly store: SqliteStores,
    private readonly dir: string,
  ) {}

  static open(entries: readonly Record<string, unknown>[]): DirectProviders {
    const dir = mkdtempSync(join(tmpdir(), "direct-providers-"));
    const store = SqliteStores.open(dir);
    const built = buildProviders(parseConfig({ providers: entries }).providers, store.sessions, () => {});
    return new DirectProviders(new Map(built.map((p) => [p.name, p])), store, dir);
  }

  get(name: string): Provider {
    return this.providers.get(name)!;
  }

  async close(): Promise<void> {
    await Promise.all([...this.providers.values()].map((p) => p.close?.()));
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The access token's life, through `end(provider, n)` (n sessions the fake knows, ended at once
 * through the service): cached, fetched once for calls at the same time, refreshed once after a
 * 401, and refreshed shortly before it expires. The providers `t-cache`, `t-401` and `t-expiry`
 * must start with an empty cache.
 */
export function describeTokenFlow(label: string, fake: () => OAuthApiFake, end: (provider: string, n: number) => Promise<void>): void {
  const bearers = () => fake().apiRequests.map((r) => r.headers.authorization);
  describe(`${label}: the access token`, () => {
    it("is cached across calls, and fetched once for calls at the same time", async () => {
      fake().delayTokens(200);
      await end("t-cache", 5);
      await end("t-cache", 1);
      expect(fake().tokenRequests).toHaveLength(1);
      expect(new Set(bearers())).toEqual(new Set([`Bearer ${fake().issued.at(-1)}`]));
    });

    it("is refreshed once after a 401 and the request sent again", async () => {
      await end("t-401", 1);
      fake().revokeTokens();
      await end("t-401", 1);
      expect(fake().tokenRequests).toHaveLength(2);
      const seen = bearers();
      expect(seen).toHaveLength(3);
      expect(seen[1]).toBe(seen[0]);
      expect(seen[2]).toBe(`Bearer ${fake().issued.at(-1)}`);
    });

    it("is refreshed shortly before it expires", async () => {
      fake().expiresIn = 2;
      await end("t-expiry", 1);
      await end("t-expiry", 1);
      expect(fake().tokenRequests).toHaveLength(1);
      // Into the last tenth of the 2 s lifetime, where the adapter refreshes: that time is the subject.
      await sleep(Math.max(0, fake().tokenRequests[0]!.receivedAt + 1850 - Date.now()));
      await end("t-expiry", 1);
      const [first, second] = fake().tokenRequests;
      expect(second).toBeDefined();
      expect(second!.receivedAt - first!.receivedAt).toBeLessThan(2000);
    });
  });
}
