import fs, { existsSync, fstatSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { hashSessionToken } from "../../src/auth/session-token.js";
import { createLogger } from "../../src/log.js";
import { AuditRetention } from "../../src/store/audit-retention.js";
import type { NewOperation } from "../../src/store/operation-types.js";
import { PostgresStores } from "../../src/store/postgres.js";
import { migrate, MIGRATIONS } from "../../src/store/postgres-migrations.js";
import { SqliteStores } from "../../src/store/sqlite.js";
import type { AuditEvent, EventQuery, NewSession, Stores } from "../../src/store/store.js";
import { dropSchema, freshSchema, postgresUrl, withClient } from "../helpers/postgres.js";
import { postgresSkip, STORES, type StoreEnv } from "../helpers/store-envs.js";
import { nextMillisecond, until } from "../helpers/wait.js";

function newSession(userId: string, extra: Partial<NewSession> = {}): NewSession {
  return { userId, resourceOwner: "org", metadata: {}, tokenHash: hashSessionToken(`token-of-${userId}`), ...extra };
}

function event(extra: Partial<AuditEvent> = {}): AuditEvent {
  return {
    time: new Date(1_750_000_000_000),
    principal: "alice",
    provider: "local",
    sessionId: "s1",
    userId: "u1",
    requestId: "q1",
    reason: "r",
    code: "OK",
    alreadyTerminated: false,
    requestScope: "principal:alice",
    ...extra,
  };
}

function newOperation(requestId: string): NewOperation {
  return {
    userId: "u1",
    reason: "compromised",
    requestId,
    principal: "admin",
    expiresAt: new Date(Date.UTC(2100, 0, 1)),
    initiatingEntity: "admin",
    providers: [
      { provider: "local", providerUserId: "u1" },
      { provider: "zitadel", providerUserId: "z-u1" },
    ],
  };
}


for (const { name, skip, setup } of STORES) describe.skipIf(skip !== undefined)(`${name} store`, () => {
  let env: StoreEnv;
  let store: Stores;
  beforeEach(async () => {
    env = await setup();
    store = await env.open();
  });
  afterEach(async () => {
    await store.close();
    await env.cleanup();
  });

  it("creates and reads a session with metadata and expiration", async () => {
    const expires = new Date(Date.now() + 60_000);
    const created = await store.sessions.createSession(newSession("u1", { metadata: { a: new Uint8Array([0, 255]) }, expirationDate: expires }));
    const got = await store.sessions.getSession(created.id);
    expect(got).toMatchObject({ id: created.id, userId: "u1", resourceOwner: "org", sequence: created.sequence });
    expect([...got!.metadata["a"]!]).toEqual([0, 255]);
    expect(got!.expirationDate?.getTime()).toBe(expires.getTime());
    expect(Buffer.from(got!.tokenHash).equals(Buffer.from(hashSessionToken("token-of-u1")))).toBe(true);
    expect(got!.termination).toBeUndefined();
    expect(await store.sessions.getSession("nope")).toBeUndefined();
  });

  it("ends a session once, and answers later calls with the first termination", async () => {
    const s = await store.sessions.createSession(newSession("u1"));
    const first = await store.sessions.terminateSession(s.id, { by: "p1", reason: "r1", requestId: "q1" });
    expect(first?.alreadyTerminated).toBe(false);
    expect(first?.session.sequence).toBeGreaterThan(s.sequence);
    const second = await store.sessions.terminateSession(s.id, { by: "p2", reason: "r2", requestId: "q2" });
    expect(second?.alreadyTerminated).toBe(true);
    expect(second?.session.termination).toMatchObject({ by: "p1", reason: "r1", requestId: "q1" });
    expect(second?.session.sequence).toBe(first?.session.sequence);
    expect(await store.sessions.terminateSession("missing", { by: "p", reason: "", requestId: "" })).toBeUndefined();
  });

  it("deletes audit events older than the retention, in batches, and keeps the newer ones", async () => {
    const now = new Date();
    const daysAgo = (d: number) => new Date(now.getTime() - d * 86_400_000);
    for (let i = 0; i < 5; i++) await store.audit.recordEvent(event({ requestId: `old${i}`, time: daysAgo(91 + i) }));
    await store.audit.recordEvent(event({ requestId: "recent", time: daysAgo(89) }));
    await store.audit.recordEvent(event({ requestId: "now", time: now }));
    const retention = new AuditRetention(store.audit, store.outbox, { days: 90, batch: 2 }, createLogger("silent"));
    expect(await retention.run(now)).toBe(5);
    expect((await store.audit.listEvents({ limit: 100 })).map((e) => e.requestId).sort()).toEqual(["now", "recent"]);
    expect(await retention.run(now)).toBe(0);
    // 0 days: kept forever, nothing runs.
    const forever = new AuditRetention(store.audit, store.outbox, { days: 0 }, createLogger("silent"));
    forever.start();
    await forever.stop();
    expect(await store.audit.listEvents({ limit: 100 })).toHaveLength(2);
  });

  it("lets exactly one of many concurrent terminations win", async () => {
    const s = await store.sessions.createSession(newSession("u1"));
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => store.sessions.terminateSession(s.id, { by: `p${i}`, reason: "", requestId: "" })));
    expect(outcomes.filter((o) => o && !o.alreadyTerminated)).toHaveLength(1);
  });

  it("lists newest first, by user, page by page", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await store.sessions.createSession(newSession(i % 2 === 0 ? "even" : "odd"))).id);
      await nextMillisecond(); // ids order by millisecond; within one, at random
    }
    await store.sessions.createSession(newSession("other"));
    const even = await store.sessions.listSessions({ userId: "even", limit: 10 });
    expect(even.map((s) => s.id)).toEqual([ids[4], ids[2], ids[0]]);
    const page1 = await store.sessions.listSessions({ userId: "even", limit: 2 });
    const page2 = await store.sessions.listSessions({ userId: "even", limit: 2, beforeId: page1[1]!.id });
    expect([...page1, ...page2].map((s) => s.id)).toEqual([ids[4], ids[2], ids[0]]);
    expect(await store.sessions.listSessions({ limit: 100 })).toHaveLength(6);
  });

  it("keeps sequences increasing across a reopen, and terminations durable", async () => {
    const a = await store.sessions.createSession(newSession("u1"));
    await store.sessions.terminateSession(a.id, { by: "p", reason: "r", requestId: "q" });
    await store.close();
    store = await env.open();
    expect((await store.sessions.getSession(a.id))?.termination?.by).toBe("p");
    const b = await store.sessions.createSession(newSession("u2"));
    expect(b.sequence).toBeGreaterThan((await store.sessions.getSession(a.id))!.sequence);
  });

  it("finds the latest event of a request id and the first successful termination of a session", async () => {
    await store.audit.recordEvent(event({ requestId: "q1", code: "UNAVAILABLE", reason: "first" }));
    await store.audit.recordEvent(event({ requestId: "q1", code: "OK", reason: "second" }));
    await store.audit.recordEvent(event({ requestId: "q2", code: "OK", reason: "third" }));
    expect((await store.audit.findEventByRequestId("principal:alice", "q1"))?.reason).toBe("second");
    expect(await store.audit.findEventByRequestId("principal:alice", "nope")).toBeUndefined();
    expect((await store.audit.findTermination("local", "s1"))?.reason).toBe("second");
    expect(await store.audit.findTermination("other", "s1")).toBeUndefined();
  });

  it("finds a request id only in its scope, and never an event without one", async () => {
    await store.audit.recordEvent(event({ requestId: "q1", reason: "alice's" }));
    await store.audit.recordEvent(event({ requestId: "q1", principal: "bob", requestScope: "principal:bob", code: "NOT_FOUND", reason: "bob's" }));
    const { requestScope: _, ...refusal } = event({ requestId: "q1", principal: "carol", code: "PERMISSION_DENIED" });
    await store.audit.recordEvent(refusal);
    expect((await store.audit.findEventByRequestId("principal:alice", "q1"))?.reason).toBe("alice's");
    expect((await store.audit.findEventByRequestId("principal:bob", "q1"))?.reason).toBe("bob's");
    expect(await store.audit.findEventByRequestId("principal:carol", "q1")).toBeUndefined();
    expect(await store.audit.findEventByRequestId("operation:op-1", "q1")).toBeUndefined();
  });

  it("makes each service secret once: 32 random bytes, the same on every call, concurrent ones too, and after a reopen", async () => {
    const [a, b, c] = await Promise.all([store.secrets.serviceSecret("work_request_id"), store.secrets.serviceSecret("work_request_id"), store.secrets.serviceSecret("work_request_id")]);
    expect(a).toHaveLength(32);
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(await store.secrets.serviceSecret("another")).not.toEqual(a);
    await store.close();
    store = await env.open();
    expect(await store.secrets.serviceSecret("work_request_id")).toEqual(a);
  });

  it("keeps every field of an event", async () => {
    const full: AuditEvent = event({
      alreadyTerminated: true,
      details: { sequence: 12345678901234567890n, resourceOwner: "org", changeDate: new Date(1_700_000_000_123), creationDate: new Date(1_600_000_000_456) },
      operationId: "op-1",
    });
    const failed: AuditEvent = event({
      requestId: "q-failed",
      code: "UNAVAILABLE",
      error: { reason: "UPSTREAM_UNAVAILABLE", message: "down", metadata: { status: "503" }, retryable: true },
    });
    await store.audit.recordEvent(full);
    await store.audit.recordEvent(failed);
    const [second, first] = await store.audit.listEvents({ limit: 10 });
    expect(first).toEqual({ ...full, id: first!.id });
    expect(second).toEqual({ ...failed, id: second!.id });
    expect(second!.id).toBeGreaterThan(first!.id);
    expect(await store.audit.findEventByRequestId("principal:alice", "q-failed")).toEqual(failed);
  });

  it("lists events newest first, filtered by user, session, principal, provider and time, page by page", async () => {
    const t0 = Date.UTC(2025, 0, 1);
    const specs = [
      { userId: "u1", sessionId: "s1", principal: "alice", provider: "local" },
      { userId: "u2", sessionId: "s2", principal: "bob", provider: "local" },
      { userId: "u1", sessionId: "s3", principal: "bob", provider: "zitadel" },
      { userId: "u1", sessionId: "s1", principal: "alice", provider: "zitadel" },
      { userId: "u3", sessionId: "s4", principal: "alice", provider: "local" },
      { userId: "u1", sessionId: "s5", principal: "carol", provider: "local" },
    ];
    for (const [i, spec] of specs.entries()) await store.audit.recordEvent(event({ ...spec, requestId: `q${i}`, time: new Date(t0 + i * 1000) }));
    const requests = async (q: Omit<EventQuery, "limit"> & { limit?: number }) =>
      (await store.audit.listEvents({ limit: 100, ...q })).map((e) => e.requestId);

    expect(await requests({})).toEqual(["q5", "q4", "q3", "q2", "q1", "q0"]);
    expect(await requests({ userId: "u1" })).toEqual(["q5", "q3", "q2", "q0"]);
    expect(await requests({ sessionId: "s1" })).toEqual(["q3", "q0"]);
    expect(await requests({ principal: "bob" })).toEqual(["q2", "q1"]);
    expect(await requests({ provider: "zitadel" })).toEqual(["q3", "q2"]);
    expect(await requests({ userId: "u1", principal: "alice", provider: "local" })).toEqual(["q0"]);
    expect(await requests({ userId: "nobody" })).toEqual([]);
    // From is inclusive, to exclusive.
    expect(await requests({ from: new Date(t0 + 2000), to: new Date(t0 + 4000) })).toEqual(["q3", "q2"]);
    expect(await requests({ from: new Date(t0 + 4500) })).toEqual(["q5"]);
    expect(await requests({ to: new Date(t0 + 1000) })).toEqual(["q0"]);
    expect(await requests({ userId: "u1", from: new Date(t0 + 1), to: new Date(t0 + 5000) })).toEqual(["q3", "q2"]);

    // Pages by the keyset cursor, with and without filters.
    const page1 = await store.audit.listEvents({ limit: 2 });
    const page2 = await store.audit.listEvents({ limit: 2, beforeId: page1[1]!.id });
    const page3 = await store.audit.listEvents({ limit: 2, beforeId: page2[1]!.id });
    expect(await store.audit.listEvents({ limit: 2, beforeId: page3[1]!.id })).toEqual([]);
    expect([...page1, ...page2, ...page3].map((e) => e.requestId)).toEqual(["q5", "q4", "q3", "q2", "q1", "q0"]);
    const u1a = await store.audit.listEvents({ userId: "u1", limit: 3 });
    const u1b = await store.audit.listEvents({ userId: "u1", limit: 3, beforeId: u1a[2]!.id });
    expect([...u1a, ...u1b].map((e) => e.requestId)).toEqual(["q5", "q3", "q2", "q0"]);
    expect(await requests({ beforeId: page1[0]!.id, limit: 1 })).toEqual(["q4"]);
  });

  it("accepts a TOTP step once per principal, on concurrent calls too, and forgets old steps", async () => {
    expect(await store.totpSteps.useTotpStep("alice", 1000)).toBe(true);
    expect(await store.totpSteps.useTotpStep("alice", 1000)).toBe(false);
    expect(await store.totpSteps.useTotpStep("bob", 1000)).toBe(true);
    expect(await store.totpSteps.useTotpStep("alice", 1001)).toBe(true);
    expect(await store.totpSteps.useTotpStep("alice", 999)).toBe(true);
    expect(await store.totpSteps.useTotpStep("alice", 999)).toBe(false);
    const racing = await Promise.all(Array.from({ length: 10 }, () => store.totpSteps.useTotpStep("carol", 5000)));
    expect(racing.filter(Boolean)).toHaveLength(1);
    // A step more than 10 below the latest one is dropped: it could not be presented any more.
    expect(await store.totpSteps.useTotpStep("alice", 1020)).toBe(true);
    expect(await store.totpSteps.useTotpStep("alice", 1000)).toBe(true);
    expect(await store.totpSteps.useTotpStep("alice", 1020)).toBe(false);
    // Pruning is per principal.
    expect(await store.totpSteps.useTotpStep("bob", 1000)).toBe(false);
  });

  it("records an inbound token id once per issuer, on concurrent calls too, and takes a lapsed one over", async () => {
    const later = new Date(Date.now() + 60_000);
    expect(await store.seenTokens.firstUse("https://idp.example", "j1", later)).toBe(true);
    expect(await store.seenTokens.firstUse("https://idp.example", "j1", later)).toBe(false);
    expect(await store.seenTokens.firstUse("https://other.example", "j1", later)).toBe(true);
    const racing = await Promise.all(Array.from({ length: 10 }, () => store.seenTokens.firstUse("https://idp.example", "j2", later)));
    expect(racing.filter(Boolean)).toHaveLength(1);
    const lapsed = new Date(Date.now() - 1_000);
    expect(await store.seenTokens.firstUse("https://idp.example", "j3", lapsed)).toBe(true);
    expect(await store.seenTokens.firstUse("https://idp.example", "j3", later)).toBe(true);
    expect(await store.seenTokens.firstUse("https://idp.example", "j3", later)).toBe(false);
    await store.seenTokens.forget("https://idp.example", "j3");
    expect(await store.seenTokens.firstUse("https://idp.example", "j3", later)).toBe(true);
    expect(await store.seenTokens.firstUse("https://other.example", "j1", later)).toBe(false);
  });

  it("creates an operation with one pending listing per provider, once per request id", async () => {
    const before = Date.now();
    const first = await store.operations.createOperation(newOperation("r1"));
    expect(first.created).toBe(true);
    expect(first.operation).toMatchObject({ userId: "u1", reason: "compromised", requestId: "r1", principal: "admin", done: false });
    expect(first.operation.id).toMatch(/^[0-9a-f]{32}$/);
    expect(first.operation.createdAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(first.operation.expiresAt.getTime()).toBe(newOperation("r1").expiresAt.getTime());
    const again = await store.operations.createOperation({ ...newOperation("r1"), userId: "someone-else" });
    expect(again).toEqual({ operation: first.operation, created: false });
    // Another principal's request id is a new id.
    const other = await store.operations.createOperation({ ...newOperation("r1"), principal: "deleter" });
    expect(other.created).toBe(true);
    expect(other.operation.id).not.toBe(first.operation.id);

    const got = await store.operations.getOperation(first.operation.id);
    expect(got?.operation).toEqual(first.operation);
    expect(got?.items.map((i) => [i.provider, i.providerUserId, i.kind, i.sessionId, i.state, i.attempts])).toEqual([
      ["local", "u1", "list", "", "pending", 0],
      ["zitadel", "z-u1", "list", "", "pending", 0],
    ]);
    expect(await store.operations.getOperation("missing")).toBeUndefined();

    const racing = await Promise.all(Array.from({ length: 8 }, () => store.operations.createOperation(newOperation("r2"))));
    expect(racing.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(racing.map((r) => r.operation.id)).size).toBe(1);
    expect((await store.operations.getOperation(racing[0]!.operation.id))?.items).toHaveLength(2);
  });

  it("lists operations newest first, by user, page by page", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await store.operations.createOperation({ ...newOperation(`r${i}`), userId: i % 2 === 0 ? "even" : "odd" })).operation.id);
      await nextMillisecond(); // ids order by millisecond; within one, at random
    }
    expect((await store.operations.listOperations({ limit: 10 })).map((o) => o.id)).toEqual([...ids].reverse());
    const page1 = await store.operations.listOperations({ userId: "even", limit: 2 });
    const page2 = await store.operations.listOperations({ userId: "even", limit: 2, beforeId: page1[1]!.id });
    expect([...page1, ...page2].map((o) => o.id)).toEqual([ids[4], ids[2], ids[0]]);
    expect(await store.operations.listOperations({ userId: "nobody", limit: 10 })).toEqual([]);
  });

  it("completes a listing: one pending end item per session, duplicates and known items kept once, the listing ended", async () => {
    const { operation } = await store.operations.createOperation(newOperation("r1"));
    await store.operations.completeListing(operation.id, "zitadel", ["b", "a", "b"]);
    let items = (await store.operations.getOperation(operation.id))!.items;
    expect(items.map((i) => [i.provider, i.providerUserId, i.kind, i.sessionId, i.state])).toEqual([
      ["local", "u1", "list", "", "pending"],
      ["zitadel", "z-u1", "list", "", "ended"],
      ["zitadel", "z-u1", "end", "a", "pending"],
      ["zitadel", "z-u1", "end", "b", "pending"],
    ]);
    // A later listing (after a retry) adds new sessions and leaves the known ones as they are.
    await store.operations.completeWork({ operationId: operation.id, provider: "zitadel", kind: "end", sessionId: "a" }, { state: "ended" });
    await store.operations.completeListing(operation.id, "zitadel", ["a", "c"]);
    items = (await store.operations.getOperation(operation.id))!.items;
    expect(items.filter((i) => i.kind === "end").map((i) => [i.sessionId, i.state])).toEqual([
      ["a", "ended"],
      ["b", "pending"],
      ["c", "pending"],
    ]);
    await store.operations.completeListing(operation.id, "local", []);
    expect((await store.operations.getOperation(operation.id))!.operation.done).toBe(false);
    await expect(store.operations.completeListing(operation.id, "nowhere", ["x"])).rejects.toThrow(/no listing of nowhere/);
    await expect(store.operations.completeListing("missing", "local", ["x"])).rejects.toThrow(/no listing/);
  });

  it("completes a listing that stopped short: its sessions' end items pending, the listing failed with its error, the operation done once they end", async () => {
    const { operation } = await store.operations.createOperation(newOperation("r1"));
    const lastError = { code: "RESOURCE_EXHAUSTED", reason: "LISTING_INCOMPLETE", message: "zitadel listed 1 sessions and stopped at its own limit" };
    await store.operations.completeListing(operation.id, "zitadel", ["a"], { state: "failed", lastError });
    await store.operations.completeListing(operation.id, "local", []);
    let progress = (await store.operations.getOperation(operation.id))!;
    expect(progress.items.map((i) => [i.provider, i.kind, i.sessionId, i.state, i.lastError])).toEqual([
      ["local", "list", "", "ended", undefined],
      ["zitadel", "list", "", "failed", lastError],
      ["zitadel", "end", "a", "pending", undefined],
    ]);
    expect(progress.operation.done).toBe(false);
    await store.operations.completeWork({ operationId: operation.id, provider: "zitadel", kind: "end", sessionId: "a" }, { state: "ended" });
    progress = (await store.operations.getOperation(operation.id))!;
    expect(progress.operation.done).toBe(true);
  });

  it("claims due work for one worker until the lease ends, counting attempts, optionally of one operation", async () => {
    const a = (await store.operations.createOperation(newOperation("ra"))).operation;
    const b = (await store.operations.createOperation(newOperation("rb"))).operation;
    const first = await store.operations.claimWork("w1", 60_000, 3);
    expect(first).toHaveLength(3);
    for (const c of first) {
      expect(c.item).toMatchObject({ kind: "list", state: "pending", attempts: 1 });
      expect(c.operation).toEqual(c.item.operationId === a.id ? a : b);
    }
    // Claimed items are skipped by every other claim while the lease holds.
    const second = await store.operations.claimWork("w2", 60_000, 10);
    expect(second).toHaveLength(1);
    expect(await store.operations.claimWork("w2", 60_000, 10)).toEqual([]);
    const claimedKeys = [...first, ...second].map((c) => `${c.item.operationId}/${c.item.provider}`).sort();
    expect(claimedKeys).toEqual([`${a.id}/local`, `${a.id}/zitadel`, `${b.id}/local`, `${b.id}/zitadel`].sort());

    // Of one operation only.
    const c = (await store.operations.createOperation(newOperation("rc"))).operation;
    const d = (await store.operations.createOperation(newOperation("rd"))).operation;
    const ofC = await store.operations.claimWork("w3", 60_000, 10, c.id);
    expect(ofC.map((x) => x.item.operationId)).toEqual([c.id, c.id]);
    expect(await store.operations.claimWork("w3", 60_000, 10, c.id)).toEqual([]);
    expect((await store.operations.claimWork("w3", 60_000, 10, d.id)).map((x) => x.item.operationId)).toEqual([d.id, d.id]);
  });

  it("lets another worker take over work whose lease expired, counting the attempt", async () => {
    const { operation } = await store.operations.createOperation({ ...newOperation("r1"), providers: [{ provider: "local", providerUserId: "u1" }] });
    const [held] = await store.operations.claimWork("dead-worker", 100, 10);
    expect(held?.item.attempts).toBe(1);
    expect(await store.operations.claimWork("w2", 100, 10)).toEqual([]);
    // The held item comes free once its lease lapses: w2 claims it then.
    const [taken] = await until("the dead worker's lease to lapse", async () => {
      const claimed = await store.operations.claimWork("w2", 60_000, 10);
      return claimed.length > 0 && claimed;
    });
    expect(taken?.item).toMatchObject({ operationId: operation.id, provider: "local", kind: "list", attempts: 2 });
    expect(await store.operations.claimWork("w3", 60_000, 10)).toEqual([]);
    expect((await store.operations.getOperation(operation.id))!.items[0]!.attempts).toBe(2);
  });

  it("records outcomes, releases claims, retries when due, and marks the operation done when nothing is pending", async () => {
    const { operation } = await store.operations.createOperation(newOperation("r1"));
    const key = (provider: string, kind: "list" | "end", sessionId: string) => ({ operationId: operation.id, provider, kind, sessionId });
    await store.operations.claimWork("w1", 60_000, 10);
    await store.operations.completeListing(operation.id, "local", ["s1", "s2"]);
    await store.operations.completeListing(operation.id, "zitadel", []);
    const ends = await store.operations.claimWork("w1", 60_000, 10);
    expect(ends.map((c) => c.item.sessionId).sort()).toEqual(["s1", "s2"]);

    const lastError = { code: "UNAVAILABLE", reason: "UPSTREAM_UNAVAILABLE", message: "down" };
    await store.operations.completeWork(key("local", "end", "s1"), { state: "ended" });
    // Pending with a later attempt: released, but not due yet.
    await store.operations.completeWork(key("local", "end", "s2"), { state: "pending", lastError, nextAttemptAt: new Date(Date.now() + 60_000) });
    let got = (await store.operations.getOperation(operation.id))!;
    expect(got.operation.done).toBe(false);
    expect(got.items.find((i) => i.sessionId === "s2")).toMatchObject({ state: "pending", attempts: 1, lastError });
    expect(got.items.find((i) => i.sessionId === "s1")?.lastError).toBeUndefined();
    expect(await store.operations.claimWork("w2", 60_000, 10)).toEqual([]);

    // Due again: claimable at once, by any worker, even though the last claim had a long lease.
    await store.operations.completeWork(key("local", "end", "s2"), { state: "pending", lastError, nextAttemptAt: new Date(Date.now() - 1000) });
    const [retry] = await store.operations.claimWork("w2", 60_000, 10);
    expect(retry?.item).toMatchObject({ sessionId: "s2", attempts: 2, lastError });
    const updatedBefore = (await store.operations.getOperation(operation.id))!.operation.updatedAt.getTime();
    await store.operations.completeWork(key("local", "end", "s2"), { state: "already_ended" });
    got = (await store.operations.getOperation(operation.id))!;
    expect(got.operation.done).toBe(true);
    expect(got.operation.updatedAt.getTime()).toBeGreaterThanOrEqual(updatedBefore);
    expect(got.items.map((i) => [i.provider, i.kind, i.sessionId, i.state])).toEqual([
      ["local", "list", "", "ended"],
      ["local", "end", "s1", "ended"],
      ["local", "end", "s2", "already_ended"],
      ["zitadel", "list", "", "ended"],
    ]);
    expect(got.items.find((i) => i.sessionId === "s2")?.lastError).toBeUndefined();
    expect((await store.operations.listOperations({ limit: 10 }))[0]?.done).toBe(true);
  });

  it("fails the pending work of expired operations, and only theirs", async () => {
    const now = Date.now();
    const soon = (await store.operations.createOperation({ ...newOperation("r1"), expiresAt: new Date(now + 10_000) })).operation;
    const later = (await store.operations.createOperation({ ...newOperation("r2"), expiresAt: new Date(now + 60_000) })).operation;
    await store.operations.completeListing(soon.id, "local", ["s1"]);
    await store.operations.completeWork({ operationId: soon.id, provider: "local", kind: "end", sessionId: "s1" }, { state: "ended" });
    await store.operations.completeListing(soon.id, "zitadel", ["s2"]);
    await store.operations.claimWork("w1", 60_000, 10, soon.id);

    expect(await store.operations.expireWork(new Date(now + 5_000))).toBe(0);
    expect(await store.operations.expireWork(new Date(now + 20_000))).toBe(1);
    const got = (await store.operations.getOperation(soon.id))!;
    expect(got.operation.done).toBe(true);
    expect(got.operation.updatedAt.getTime()).toBe(now + 20_000);
    expect(got.items.map((i) => [i.provider, i.kind, i.sessionId, i.state])).toEqual([
      ["local", "list", "", "ended"],
      ["local", "end", "s1", "ended"],
      ["zitadel", "list", "", "ended"],
      ["zitadel", "end", "s2", "failed"],
    ]);
    expect(got.items[3]!.lastError).toEqual({ code: "DEADLINE_EXCEEDED", reason: "OPERATION_EXPIRED", message: "the operation's maximum age passed before this work succeeded" });
    expect((await store.operations.getOperation(later.id))!.items.every((i) => i.state === "pending")).toBe(true);
    // Failed work is not claimed; nothing is left to expire.
    expect((await store.operations.claimWork("w2", 60_000, 10)).every((c) => c.item.operationId === later.id)).toBe(true);
    expect(await store.operations.expireWork(new Date(now + 20_000))).toBe(0);
  });
});

describe("sqlite store files", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "sc-store-"));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it("never holds a session token in clear, and runs WAL with its own syncs: synchronous OFF, no automatic checkpoints", async () => {
    const store = SqliteStores.open(dir);
    const token = "clear-token-value-that-must-not-be-stored";
    await store.sessions.createSession(newSession("u1", { tokenHash: hashSessionToken(token) }));
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
    expect(store.pragma("synchronous")).toBe(0n);
    expect(store.pragma("wal_autocheckpoint")).toBe(0n);
    await store.close();
  });

  it("answers a write once an fdatasync of the -wal file's inode, begun after the commit, has finished", async () => {
    const store = SqliteStores.open(dir);
    const wal = statSync(join(dir, "sessions.db-wal")).ino;
    const real = fs.fdatasync;
    const synced: { ino: number; rows: number }[] = [];
    let inFlight = 0;
    vi.spyOn(fs, "fdatasync").mockImplementation(((fd: number, done: (err: NodeJS.ErrnoException | null) => void) => {
      // What the connection had committed when the sync began, read from another connection.
      const rows = countRows(join(dir, "sessions.db"));
      inFlight++;
      setTimeout(
        () =>
          real(fd, (err) => {
            inFlight--;
            synced.push({ ino: fstatSync(fd).ino, rows });
            done(err);
          }),
        20,
      );
    }) as typeof fs.fdatasync);
    const created = await Promise.all([store.sessions.createSession(newSession("u1")), store.sessions.createSession(newSession("u2"))]);
    expect(inFlight).toBe(0);
    expect(synced).toEqual([{ ino: wal, rows: 2 }]);
    // Reads wait for the sync of what they see too.
    const ended = store.sessions.terminateSession(created[0].id, { by: "p", reason: "r", requestId: "q" });
    await new Promise((resolve) => setImmediate(resolve));
    expect(inFlight).toBe(1);
    expect((await store.sessions.getSession(created[0].id))?.termination?.by).toBe("p");
    expect(inFlight).toBe(0);
    await ended;
    await store.close();
  });

  it("on close, commits and syncs every write made before, and leaves no -wal file behind", async () => {
    const store = SqliteStores.open(dir);
    const writes = Array.from({ length: 50 }, (_, i) => store.sessions.createSession(newSession(`u${i}`)));
    await store.close();
    expect((await Promise.all(writes)).map((s) => s.userId)).toEqual(Array.from({ length: 50 }, (_, i) => `u${i}`));
    expect(existsSync(join(dir, "sessions.db-wal"))).toBe(false);
    expect(countRows(join(dir, "sessions.db"))).toBe(50);
  });
});

/** Sessions in the file as another connection sees them. */
function countRows(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare("SELECT COUNT(*) FROM sessions").pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Events as stores kept them before request ids were scoped: [principal, request id, code, operation id]. */
const UNSCOPED_EVENTS: [string, string, string, string | null][] = [
  ["admin", "q-ok", "OK", null],
  ["admin", "q-gone", "NOT_FOUND", null],
  ["nobody", "q-denied", "PERMISSION_DENIED", null],
  ["nobody", "q-unauthenticated", "UNAUTHENTICATED", null],
  ["admin", "q-invalid", "INVALID_ARGUMENT", null],
  ["admin", "q-work", "OK", "op-1"],
];

/** What a store migrated from them must find, and not find. */
async function expectScopedAfterMigration(store: Stores): Promise<void> {
  const found = async (scope: string, requestId: string) => (await store.audit.findEventByRequestId(scope, requestId))?.code;
  expect(await found("principal:admin", "q-ok")).toBe("OK");
  expect(await found("principal:admin", "q-gone")).toBe("NOT_FOUND");
  expect(await found("operation:op-1", "q-work")).toBe("OK");
  // Refusals are never replayed; ids are found only in the scope that used them.
  expect(await found("principal:nobody", "q-denied")).toBeUndefined();
  expect(await found("principal:nobody", "q-unauthenticated")).toBeUndefined();
  expect(await found("principal:admin", "q-invalid")).toBeUndefined();
  expect(await found("principal:nobody", "q-ok")).toBeUndefined();
  expect(await found("principal:admin", "q-work")).toBeUndefined();
  expect((await store.audit.listEvents({ limit: 10 })).map((e) => e.requestId).sort()).toEqual(UNSCOPED_EVENTS.map(([, q]) => q).sort());
  // The operation recorded before keeps its request id for its principal; another principal's is a new one.
  const kept = await store.operations.createOperation({ ...newOperation("r-old"), principal: "admin" });
  expect([kept.created, kept.operation.id]).toEqual([false, "op-1"]);
  // Only session.delete could start one then.
  expect(kept.operation.initiatingEntity).toBe("admin");
  expect((await store.operations.createOperation({ ...newOperation("r-old"), principal: "deleter" })).operation).toMatchObject({ principal: "deleter", requestId: "r-old" });
}

describe("stores made before request ids were scoped", () => {
  it("sqlite: a file with the old events table migrates on open, once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sc-store-"));
    const db = new Database(join(dir, "sessions.db"));
    db.exec(`CREATE TABLE events (
      id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, principal TEXT NOT NULL, provider TEXT NOT NULL,
      session_id TEXT NOT NULL, user_id TEXT NOT NULL, request_id TEXT NOT NULL, reason TEXT NOT NULL, code TEXT NOT NULL,
      already_terminated INTEGER NOT NULL, details TEXT, error TEXT, operation_id TEXT);
    CREATE INDEX events_by_request ON events (request_id, id);
    CREATE TABLE operations (
      id TEXT PRIMARY KEY, user_id TEXT NOT NULL, reason TEXT NOT NULL, request_id TEXT NOT NULL UNIQUE, principal TEXT NOT NULL,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, done INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
    CREATE INDEX operations_by_user ON operations (user_id, id);
    INSERT INTO operations (id, user_id, reason, request_id, principal, created_at, updated_at, expires_at, done) VALUES ('op-1', 'u1', '', 'r-old', 'admin', 1, 1, 4102444800000, 1);`);
    const insert = db.prepare("INSERT INTO events (time, principal, provider, session_id, user_id, request_id, reason, code, already_terminated, operation_id) VALUES (1, ?, 'local', 's1', '', ?, '', ?, 0, ?)");
    for (const row of UNSCOPED_EVENTS) insert.run(...row);
    db.close();
    for (let open = 0; open < 2; open++) {
      const store = SqliteStores.open(dir);
      await expectScopedAfterMigration(store);
      await store.close();
    }
    const indexes = new Database(join(dir, "sessions.db")).prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'").all() as { name: string }[];
    expect(indexes.map((i) => i.name)).not.toContain("events_by_request");
    rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(postgresSkip !== undefined)("postgres: a database at migration 4 migrates, once", async () => {
    const schema = freshSchema();
    try {
      await withClient((c) => migrate(c, schema, MIGRATIONS.filter((m) => m.version <= 4)));
      await withClient(async (c) => {
        for (const row of UNSCOPED_EVENTS) {
          await c.query("INSERT INTO events (time, principal, provider, session_id, user_id, request_id, reason, code, already_terminated, operation_id) VALUES (now(), $1, 'local', 's1', '', $2, '', $3, false, $4)", row);
        }
        await c.query("INSERT INTO operations (id, user_id, reason, request_id, principal, created_at, updated_at, expires_at, done) VALUES ('op-1', 'u1', '', 'r-old', 'admin', now(), now(), now() + interval '1 day', true)");
      }, schema);
      const store = await PostgresStores.connect(postgresUrl, { schema });
      expect(store.appliedMigrations).toEqual(MIGRATIONS.filter((m) => m.version > 4).map((m) => m.version));
      await expectScopedAfterMigration(store);
      await store.close();
    } finally {
      await dropSchema(schema);
    }
  });
});

describe.skipIf(postgresSkip !== undefined)("postgres store database", () => {
  it("keeps its tables in the given schema, migrated once, never holds a session token in clear, and commits synchronously", async () => {
    const schema = freshSchema();
    const store = await PostgresStores.connect(postgresUrl, { schema });
    try {
      expect(store.appliedMigrations).toEqual(MIGRATIONS.map((m) => m.version));
      expect(await store.setting("search_path")).toBe(schema);
      expect(await store.setting("synchronous_commit")).not.toBe("off");
      expect(await store.setting("fsync")).toBe("on");
      const token = "clear-token-value-that-must-not-be-stored";
      const s = await store.sessions.createSession(newSession("u1", { tokenHash: hashSessionToken(token) }));
      await store.sessions.terminateSession(s.id, { by: "p", reason: "r", requestId: "q" });
      const dump = await withClient(async (c) => {
        const { rows } = await c.query<{ row: string }>("SELECT row_to_json(s)::text AS row FROM sessions s");
        return rows.map((r) => r.row).join("\n");
      }, schema);
      expect(dump).toContain("u1");
      expect(dump).not.toContain(token);
      expect(dump).toContain(Buffer.from(hashSessionToken(token)).toString("hex"));

      const again = await PostgresStores.connect(postgresUrl, { schema });
      expect(again.appliedMigrations).toEqual([]);
      expect((await again.sessions.getSession(s.id))?.termination?.by).toBe("p");
      await again.close();
      const versions = await withClient(async (c) => (await c.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")).rows, schema);
      expect(versions.map((v) => v.version)).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it("refuses a schema name that would need quoting, and fails to connect to no database", async () => {
    await expect(PostgresStores.connect(postgresUrl, { schema: "Bad-Name" })).rejects.toThrow(/invalid schema name/);
    await expect(PostgresStores.connect("postgres://postgres@127.0.0.1:1/test", { schema: freshSchema() })).rejects.toThrow();
  });
});
