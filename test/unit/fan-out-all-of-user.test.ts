import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { operationMessage } from "../../src/api/operation-message.js";
import { createLogger } from "../../src/log.js";
import { ALL_SESSIONS, endedNow, type Provider, type TerminateCall } from "../../src/providers/provider.js";
import { recordTerminations } from "../../src/sessions/audit-trail.js";
import { EndSession } from "../../src/sessions/end-session.js";
import { FanOut } from "../../src/sessions/fan-out.js";
import { ProviderLimiters } from "../../src/sessions/limiter.js";
import { TerminationEvents } from "../../src/sessions/termination-events.js";
import { SqliteStores } from "../../src/store/sqlite.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A system that ends all of a user's sessions in one call and counts them first. */
function userWide(): Provider & { calls: TerminateCall[]; listed: number } {
  const calls: TerminateCall[] = [];
  const provider = {
    name: "idp",
    type: "fake",
    table: [{ when: { httpStatus: 404 }, answer: "HTTP 404", code: Code.NotFound, reason: "USER_NOT_FOUND" }],
    verifiesTokens: false,
    endsAllOfUser: true,
    calls,
    listed: 0,
    checkOptions: () => [],
    async terminate(call: TerminateCall) {
      calls.push(call);
      return { ...endedNow(), allOfUser: true, sessionsEnded: 3 };
    },
    async listUserSessions() {
      provider.listed++;
      return { sessions: [], complete: true };
    },
  };
  return provider;
}

/** Signs alice out everywhere through `provider` alone (its id for her: `providerUserId`), to the end. */
async function signOutEverywhere(stores: SqliteStores, provider: Provider, providerUserId: string, requestId: string): Promise<string> {
  const events = new TerminationEvents();
  recordTerminations(stores.audit, events);
  const endSession = new EndSession([provider], provider.name, stores.audit, events);
  const settings = { leaseMs: 10_000, pollMs: 50, retryInitialMs: 10, retryMaxMs: 50, callTimeoutMs: 2_000 };
  const fanOut = new FanOut(stores.operations, new Map([[provider.name, provider]]), new ProviderLimiters(4), endSession, Buffer.alloc(32, 1), settings, createLogger("silent"));
  const op = await fanOut.run(
    { userId: "alice", reason: "incident", requestId, principal: "admin", expiresAt: new Date(Date.now() + 60_000), initiatingEntity: "admin", providers: [{ provider: provider.name, providerUserId }] },
    Date.now() + 5_000,
  );
  return op.id;
}

describe("sign out everywhere through a provider that ends all of a user's sessions at once", () => {
  it("makes one ALL_SESSIONS work item, ended by one user-wide call, counting the sessions it found", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sc-allofuser-"));
    dirs.push(dir);
    const stores = SqliteStores.open(dir);
    stores.outbox.setConfiguredSubscribers([{ id: "receiver:r", maxAgeMs: 60_000 }]);
    try {
      const provider = userWide();
      const operationId = await signOutEverywhere(stores, provider, "idp-alice", "11111111-1111-4111-8111-111111111111");
      const progress = (await stores.operations.getOperation(operationId))!;
      expect(progress.operation.done).toBe(true);
      expect(progress.items.map((i) => [i.kind, i.sessionId, i.state, i.sessionsEnded])).toEqual([["list", "", "ended", undefined], ["end", ALL_SESSIONS, "ended", 3]]);
      expect(provider.listed).toBe(0);
      expect(provider.calls.map((c) => [c.sessionId, c.userId, c.allOfUser])).toEqual([[ALL_SESSIONS, "idp-alice", true]]);
      expect(operationMessage(progress.operation, progress.items).providers[0]).toMatchObject({ provider: "idp", listed: true, sessionsEnded: 3, sessionsPending: 0 });
      // Its audit row is the user-wide end; announced, it names the user alone.
      const [row] = await stores.audit.listEvents({ limit: 10 });
      expect(row).toMatchObject({ provider: "idp", sessionId: ALL_SESSIONS, code: "OK" });
      const notices = (await stores.outbox.listDeliveries({ limit: 10 })).map((d) => d.notice);
      expect(notices).toContainEqual(expect.objectContaining({ kind: "session-revoked", userId: "idp-alice", provider: "idp", txn: operationId }));
      expect(notices.filter((n) => "sessionId" in n && n.sessionId !== undefined)).toEqual([]);
    } finally {
      await stores.close();
    }
  });
});

describe("sign out everywhere through a provider whose listing stops short of the user's last session", () => {
  it("ends the sessions listed, fails the listing with LISTING_INCOMPLETE, and the operation shows it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sc-incomplete-"));
    dirs.push(dir);
    const stores = SqliteStores.open(dir);
    try {
      const calls: TerminateCall[] = [];
      const provider: Provider = {
        name: "chat",
        type: "fake",
        table: [],
        verifiesTokens: false,
        checkOptions: () => [],
        async terminate(call: TerminateCall) {
          calls.push(call);
          return endedNow();
        },
        async listUserSessions() {
          return { sessions: [{ sessionId: "s1", userId: "u", active: true }, { sessionId: "s2", userId: "u", active: true }, { sessionId: "old", userId: "u", active: false }], complete: false };
        },
      };
      const progress = (await stores.operations.getOperation(await signOutEverywhere(stores, provider, "u", "22222222-2222-4222-8222-222222222222")))!;
      expect(progress.operation.done).toBe(true);
      expect(progress.items.map((i) => [i.kind, i.sessionId, i.state, i.lastError?.reason])).toEqual([
        ["list", "", "failed", "LISTING_INCOMPLETE"],
        ["end", "s1", "ended", undefined],
        ["end", "s2", "ended", undefined],
      ]);
      expect(calls.map((c) => c.sessionId).sort()).toEqual(["s1", "s2"]);
      const shown = operationMessage(progress.operation, progress.items).providers[0]!;
      expect(shown).toMatchObject({ provider: "chat", listed: false, sessionsEnded: 2, sessionsPending: 0 });
      expect(shown.failures.map((f) => [f.code, f.reason, f.retrying])).toEqual([["RESOURCE_EXHAUSTED", "LISTING_INCOMPLETE", false]]);
      expect(shown.failures[0]!.message).toContain("chat stopped at its own limit after listing 3 sessions");
    } finally {
      await stores.close();
    }
  });
});
