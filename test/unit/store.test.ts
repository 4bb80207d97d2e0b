import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashSessionToken } from "../../src/auth/session-token.js";
import { SqliteStore } from "../../src/store/sqlite.js";
import type { NewSession, Store } from "../../src/store/store.js";

/** Each store under the same suite: `open` gives a store on the same data each time it is called. */
const STORES: { name: string; setup(): { open(): Store; cleanup(): void } }[] = [
  {
    name: "sqlite",
    setup() {
      const dir = mkdtempSync(join(tmpdir(), "sc-store-"));
      return { open: () => SqliteStore.open(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
];

function newSession(userId: string, extra: Partial<NewSession> = {}): NewSession {
  return { userId, resourceOwner: "org", metadata: {}, tokenHash: hashSessionToken(`token-of-${userId}`), ...extra };
}

describe.each(STORES)("$name store", ({ setup }) => {
  let env: ReturnType<(typeof STORES)[number]["setup"]>;
  let store: Store;
  beforeEach(() => {
    env = setup();
    store = env.open();
  });
  afterEach(async () => {
    await store.close();
    env.cleanup();
  });

  it("creates and reads a session with metadata and expiration", async () => {
    const expires = new Date(Date.now() + 60_000);
    const created = await store.createSession(newSession("u1", { metadata: { a: new Uint8Array([0, 255]) }, expirationDate: expires }));
    const got = await store.getSession(created.id);
    expect(got).toMatchObject({ id: created.id, userId: "u1", resourceOwner: "org", sequence: created.sequence });
    expect([...got!.metadata["a"]!]).toEqual([0, 255]);
    expect(got!.expirationDate?.getTime()).toBe(expires.getTime());
    expect(Buffer.from(got!.tokenHash).equals(Buffer.from(hashSessionToken("token-of-u1")))).toBe(true);
    expect(got!.termination).toBeUndefined();
    expect(await store.getSession("nope")).toBeUndefined();
  });

  it("ends a session once, and answers later calls with the first termination", async () => {
    const s = await store.createSession(newSession("u1"));
    const first = await store.terminateSession(s.id, { by: "p1", reason: "r1", requestId: "q1" });
    expect(first?.alreadyTerminated).toBe(false);
    expect(first?.session.sequence).toBeGreaterThan(s.sequence);
    const second = await store.terminateSession(s.id, { by: "p2", reason: "r2", requestId: "q2" });
    expect(second?.alreadyTerminated).toBe(true);
    expect(second?.session.termination).toMatchObject({ by: "p1", reason: "r1", requestId: "q1" });
    expect(second?.session.sequence).toBe(first?.session.sequence);
    expect(await store.terminateSession("missing", { by: "p", reason: "", requestId: "" })).toBeUndefined();
  });

  it("lets exactly one of many concurrent terminations win", async () => {
    const s = await store.createSession(newSession("u1"));
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => store.terminateSession(s.id, { by: `p${i}`, reason: "", requestId: "" })));
    expect(outcomes.filter((o) => o && !o.alreadyTerminated)).toHaveLength(1);
  });

  it("lists newest first, by user, page by page", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await store.createSession(newSession(i % 2 === 0 ? "even" : "odd"))).id);
    await store.createSession(newSession("other"));
    const even = await store.listSessions({ userId: "even", limit: 10 });
    expect(even.map((s) => s.id)).toEqual([ids[4], ids[2], ids[0]]);
    const page1 = await store.listSessions({ userId: "even", limit: 2 });
    const page2 = await store.listSessions({ userId: "even", limit: 2, beforeId: page1[1]!.id });
    expect([...page1, ...page2].map((s) => s.id)).toEqual([ids[4], ids[2], ids[0]]);
    expect(await store.listSessions({ limit: 100 })).toHaveLength(6);
  });

  it("keeps sequences increasing across a reopen, and terminations durable", async () => {
    const a = await store.createSession(newSession("u1"));
    await store.terminateSession(a.id, { by: "p", reason: "r", requestId: "q" });
    await store.close();
    store = env.open();
    expect((await store.getSession(a.id))?.termination?.by).toBe("p");
    const b = await store.createSession(newSession("u2"));
    expect(b.sequence).toBeGreaterThan((await store.getSession(a.id))!.sequence);
  });
});

describe("sqlite store files", () => {
  it("never holds a session token in clear, and runs WAL with synchronous FULL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sc-store-"));
    const store = SqliteStore.open(dir);
    const token = "clear-token-value-that-must-not-be-stored";
    await store.createSession(newSession("u1", { tokenHash: hashSessionToken(token) }));
    const files = ["sessions.db", "sessions.db-wal"].map((f) => {
      try {
        return readFileSync(join(dir, f)).toString("latin1");
      } catch {
        return "";
      }
    });
    expect(files.join("")).not.toContain(token);
    expect(files.join("")).toContain("u1");
    expect(store.pragma("journal_mode")).toBe("wal");
    expect(store.pragma("synchronous")).toBe(2n);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
