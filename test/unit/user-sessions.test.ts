import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { Principal } from "../../src/auth/principal.js";
import { createLogger } from "../../src/log.js";
import { LocalProvider } from "../../src/providers/local.js";
import type { ListUserSessionsCall, Provider, UpstreamSession } from "../../src/providers/provider.js";
import { ProviderLimiters } from "../../src/sessions/limiter.js";
import { UserSessions, type ProviderSessions } from "../../src/sessions/user-sessions.js";
import type { SessionStore } from "../../src/store/store.js";
import { until } from "../helpers/wait.js";

const reader: Principal = { name: "reader", permissions: new Set(["session.read"]) };
const noLinks = { providerUserIds: async () => ({}) };

/** A provider whose listings the test answers (`complete` false: it stopped short of the user's last session): each waits until released, and is counted while it runs. */
function gated(name: string, list: (call: ListUserSessionsCall) => UpstreamSession[] | Promise<UpstreamSession[]> = () => [], complete = true) {
  const stats = { started: 0, inFlight: 0, maxInFlight: 0, calls: [] as ListUserSessionsCall[] };
  const releases: (() => void)[] = [];
  let open = false;
  const provider: Provider = {
    name,
    type: "fake",
    table: [],
    verifiesTokens: false,
    checkOptions: () => [],
    terminate: () => Promise.reject(new Error("not used")),
    async listUserSessions(call) {
      stats.calls.push(call);
      stats.started++;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        if (!open) await new Promise<void>((resolve) => releases.push(resolve));
        return { sessions: await list(call), complete };
      } finally {
        stats.inFlight--;
      }
    },
  };
  /** Lets every listing waiting now, and every later one, answer. */
  const release = () => {
    open = true;
    for (const r of releases.splice(0)) r();
  };
  return { provider, stats, release };
}

/** Log lines written, parsed. */
function logSink() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { log: createLogger("info", sink), lines, text: () => lines.join("\n") };
}

function userSessions(providers: Provider[], limiters: ProviderLimiters, maxPerProvider = 1000, log = logSink().log): UserSessions {
  return new UserSessions(providers, noLinks, limiters, { maxPerProvider }, log);
}

const sessionsOf = (n: number, userId = "u"): UpstreamSession[] => Array.from({ length: n }, (_, i) => ({ sessionId: `s${i}`, userId, active: true }));
const call = (timeoutMs = 10_000) => ({ signal: new AbortController().signal, deadline: Date.now() + timeoutMs });
const one = async (p: Promise<ProviderSessions[]>) => (await p)[0]!;

describe("UserSessions", () => {
  it("lists in one provider at most its limiter's size at once; the others wait their turn and are answered", async () => {
    const { provider, stats, release } = gated("p", () => sessionsOf(1));
    const us = userSessions([provider], new ProviderLimiters(2));
    const answers = Array.from({ length: 5 }, () => one(us.list(reader, { userId: "u", providers: [], providerUserIds: {} }, call())));
    await until("two listings running", () => stats.inFlight === 2);
    expect(stats.started).toBe(2);
    release();
    const parts = await Promise.all(answers);
    expect(parts.every((p) => "sessions" in p && p.sessions.length === 1)).toBe(true);
    expect(stats.started).toBe(5);
    expect(stats.maxInFlight).toBe(2);
  });

  it("shares the provider's limiter with other work there: a listing still waiting at the deadline's cut-off is DEADLINE_EXCEEDED and never made", async () => {
    const { provider, stats } = gated("p");
    const other = gated("q", () => sessionsOf(2));
    const limiters = new ProviderLimiters(1);
    // Other work (the fan-out's) holds p's one place.
    let free!: () => void;
    const busy = limiters.for("p").run(() => new Promise<void>((resolve) => (free = resolve)));
    other.release();
    const started = Date.now();
    const parts = await userSessions([provider, other.provider], limiters).list(reader, { userId: "u", providers: [], providerUserIds: {} }, call(2_000));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(parts[0]).toMatchObject({ provider: "p", failure: { code: "DEADLINE_EXCEEDED", reason: "CALLER_DEADLINE_EXCEEDED", domain: "p" } });
    expect(parts[1]).toMatchObject({ provider: "q", truncated: false });
    expect(stats.started).toBe(0);
    // The place freed goes to the next comer: the listing cut off left the queue.
    free();
    await busy;
    expect(await limiters.for("p").run(async () => "next")).toBe("next");
    expect(stats.started).toBe(0);
  });

  it("holds at most maxPerProvider sessions per part, marked truncated when the provider had more or stopped short at its own cap, and asks it for one more than that", async () => {
    const many = gated("many", () => sessionsOf(5));
    const exact = gated("exact", () => sessionsOf(3));
    const capped = gated("capped", () => sessionsOf(2), false);
    for (const p of [many, exact, capped]) p.release();
    const parts = await userSessions([many.provider, exact.provider, capped.provider], new ProviderLimiters(4), 3).list(reader, { userId: "u", providers: [], providerUserIds: {} }, call());
    expect(parts.map((p) => ("sessions" in p ? [p.provider, p.sessions.map((s) => s.sessionId), p.truncated] : p))).toEqual([
      ["many", ["s0", "s1", "s2"], true],
      ["exact", ["s0", "s1", "s2"], false],
      ["capped", ["s0", "s1"], true],
    ]);
    expect([...many.stats.calls, ...exact.stats.calls, ...capped.stats.calls].map((c) => c.limit)).toEqual([4, 4, 4]);
  });

  it("a listing that throws something other than a Failure is INTERNAL LIST_FAILED, logged with its message (a secret under a redacted field name such as token stays out), and the other parts are answered", async () => {
    const broken = gated("broken", () => {
      throw Object.assign(new TypeError("cannot read properties of undefined"), { token: "very-secret-upstream-token" });
    });
    const fine = gated("fine", () => sessionsOf(1));
    broken.release();
    fine.release();
    const logs = logSink();
    const parts = await userSessions([broken.provider, fine.provider], new ProviderLimiters(4), 1000, logs.log).list(reader, { userId: "u", providers: [], providerUserIds: {} }, call());
    expect(parts[0]).toMatchObject({ provider: "broken", failure: { code: "INTERNAL", reason: "LIST_FAILED", domain: "broken", message: "broken: listing the user's sessions failed" } });
    expect(JSON.stringify(parts[0])).not.toContain("cannot read properties");
    expect(parts[1]).toMatchObject({ provider: "fine", truncated: false });
    await until("the log line", () => logs.lines.length > 0);
    const line = JSON.parse(logs.lines.find((l) => l.includes("listing a user's sessions failed"))!) as { level: number; provider: string; err: { message: string } };
    expect(line).toMatchObject({ level: 50, provider: "broken", err: { message: "cannot read properties of undefined" } });
    expect(logs.text()).not.toContain("very-secret-upstream-token");
  });
});

describe("LocalProvider.listUserSessions", () => {
  it("reads at most the limit asked from the store (ListUserSessions asks for one more than a part holds)", async () => {
    const limits: number[] = [];
    const store = {
      async listSessions(q: { userId?: string; limit: number }) {
        limits.push(q.limit);
        return [];
      },
    } as unknown as SessionStore;
    const local = new LocalProvider("local", store);
    expect(await local.listUserSessions({ userId: "u", signal: new AbortController().signal, limit: 1001 })).toEqual({ sessions: [], complete: true });
    await local.listUserSessions({ userId: "u", signal: new AbortController().signal });
    expect(limits).toEqual([1001, 100_000]);
    const limiters = new ProviderLimiters(1);
    await new UserSessions([local], noLinks, limiters, { maxPerProvider: 1000 }, logSink().log).list(reader, { userId: "u", providers: [], providerUserIds: {} }, call());
    expect(limits.at(-1)).toBe(1001);
  });

  it("says its list may be incomplete when the store gave as many as the limit", async () => {
    const store = {
      async listSessions(q: { limit: number }) {
        return Array.from({ length: Math.min(q.limit, 3) }, (_, i) => ({ id: `s${i}`, userId: "u", creationDate: new Date() }));
      },
    } as unknown as SessionStore;
    const local = new LocalProvider("local", store);
    const listing = (limit: number) => local.listUserSessions({ userId: "u", signal: new AbortController().signal, limit });
    expect(await listing(3)).toMatchObject({ complete: false });
    expect(await listing(4)).toMatchObject({ complete: true });
    expect((await listing(4)).sessions).toHaveLength(3);
  });
});
