import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashSessionToken } from "../../src/auth/session-token.js";
import { createLogger } from "../../src/log.js";
import { AuditRetention } from "../../src/store/audit-retention.js";
import type { NewOperation } from "../../src/store/operation-types.js";
import type { Delivery, SessionRevokedNotice } from "../../src/store/outbox-types.js";
import { PostgresStores } from "../../src/store/postgres.js";
import type { AuditEvent, AuditTemplate, Stores } from "../../src/store/store.js";
import { dropSchema, freshSchema, postgresUrl } from "../helpers/postgres.js";
import { postgresSkip, STORES, type StoreEnv } from "../helpers/store-envs.js";
import { until } from "../helpers/wait.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DAY_MS = 24 * 3_600_000;

function template(sessionId: string, extra: Partial<AuditTemplate> = {}): AuditTemplate {
  return {
    time: new Date(),
    principal: "alice",
    provider: "local",
    sessionId,
    userId: "",
    requestId: "11111111-2222-4333-8444-555555555555",
    reason: "laptop stolen",
    requestScope: "principal:alice",
    announce: { initiatingEntity: "admin", userId: "" },
    ...extra,
  };
}

function upstreamEnd(extra: Partial<AuditEvent> = {}): AuditEvent {
  return {
    time: new Date(1_750_000_000_000),
    principal: "worker",
    provider: "zitadel",
    sessionId: "z-session",
    userId: "z-user",
    requestId: "q-up",
    reason: "",
    code: "OK",
    alreadyTerminated: false,
    details: { sequence: 0n, changeDate: new Date(1_750_000_000_500), resourceOwner: "org-7" },
    announce: { initiatingEntity: "system", userId: "z-user" },
    ...extra,
  };
}

function operation(requestId: string, extra: Partial<NewOperation> = {}): NewOperation {
  return {
    userId: "u1",
    reason: "compromised",
    requestId,
    principal: "admin",
    expiresAt: new Date(Date.UTC(2100, 0, 1)),
    initiatingEntity: "user",
    providers: [{ provider: "local", providerUserId: "u1" }],
    ...extra,
  };
}

/** Both stores' spelling of a stream row. */
function addStream(env: StoreEnv, name: string, id: string, status: string, wantsRevoked: boolean): Promise<unknown> {
  return env.sql(
    name === "sqlite"
      ? `INSERT INTO ssf_streams VALUES ('${id}', '${status}', NULL, ${wantsRevoked ? 1 : 0}, '{}', 0, 0)`
      : `INSERT INTO ssf_streams VALUES ('${id}', '${status}', NULL, ${wantsRevoked}, '{}', now(), now())`,
  );
}

async function count(env: StoreEnv, table: string): Promise<number> {
  const [row] = await env.sql(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(row!["n"]);
}

async function endSession(store: Stores, userId: string, extra: Partial<AuditTemplate> = {}) {
  const s = await store.sessions.createSession({ userId, resourceOwner: "org-1", metadata: {}, tokenHash: hashSessionToken(`t-${userId}`) });
  const outcome = await store.sessions.terminateSession(s.id, { by: "alice", reason: "laptop stolen", requestId: "q1" }, template(s.id, extra));
  return outcome!.session;
}

const all = (store: Stores, extra: { subscriber?: string; state?: Delivery["state"] } = {}) => store.outbox.listDeliveries({ limit: 1000, ...extra });

for (const { name, skip, setup } of STORES) describe.skipIf(skip !== undefined)(`${name} outbox`, () => {
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

  it("writes nothing for an end when no one subscribes", async () => {
    await endSession(store, "u1");
    expect(await count(env, "events")).toBe(1);
    expect(await count(env, "outbox_notices")).toBe(0);
    expect(await count(env, "deliveries")).toBe(0);
    expect(await store.outbox.pendingCounts()).toEqual(new Map());
  });

  it("queues a first end's notice and one delivery per subscriber in the end's transaction, and tells the listeners", async () => {
    store.outbox.setConfiguredSubscribers([
      { id: "receiver:a", maxAgeMs: 60_000 },
      { id: "receiver:b", maxAgeMs: 120_000 },
    ]);
    await addStream(env, name, "s-on", "enabled", true);
    await addStream(env, name, "s-paused", "paused", true);
    await addStream(env, name, "s-off", "disabled", true);
    await addStream(env, name, "s-other", "enabled", false);
    const told: string[][] = [];
    store.outbox.onQueued((subscribers) => told.push([...subscribers]));
    const session = await endSession(store, "u1");

    const deliveries = await all(store);
    expect(deliveries.map((d) => d.subscriber).sort()).toEqual(["receiver:a", "receiver:b", "stream:s-on", "stream:s-paused"]);
    expect(await count(env, "outbox_notices")).toBe(1);
    const notice: SessionRevokedNotice = {
      kind: "session-revoked",
      userId: "u1",
      sessionId: session.id,
      provider: "local",
      tenant: "org-1",
      endedAt: session.changeDate.getTime(),
      initiatingEntity: "admin",
      reason: "laptop stolen",
      txn: "11111111-2222-4333-8444-555555555555",
    };
    for (const d of deliveries) {
      expect(d).toMatchObject({ notice, state: "pending", attempts: 0 });
      expect(d.jti).toMatch(UUID);
      expect(d.lastError).toBeUndefined();
      expect(d.nextAttemptAt.getTime()).toBe(d.createdAt.getTime());
    }
    expect(new Set(deliveries.map((d) => d.jti)).size).toBe(4);
    const age = (subscriber: string) => deliveries.find((d) => d.subscriber === subscriber)!;
    expect(age("receiver:a").expiresAt.getTime() - age("receiver:a").createdAt.getTime()).toBe(60_000);
    expect(age("receiver:b").expiresAt.getTime() - age("receiver:b").createdAt.getTime()).toBe(120_000);
    expect(age("stream:s-on").expiresAt.getTime() - age("stream:s-on").createdAt.getTime()).toBe(DAY_MS);
    await until("the listeners told", () => told.length > 0);
    expect(told.flat().sort()).toEqual(["receiver:a", "receiver:b", "stream:s-on", "stream:s-paused"]);
  });

  it("queues nothing for an end found ended, a failure, or an event that asks for no announcement", async () => {
    store.outbox.setConfiguredSubscribers([{ id: "receiver:a", maxAgeMs: 60_000 }]);
    const session = await endSession(store, "u1");
    await store.sessions.terminateSession(session.id, { by: "bob", reason: "", requestId: "q2" }, template(session.id));
    await store.audit.recordEvent(upstreamEnd({ alreadyTerminated: true }));
    await store.audit.recordEvent(upstreamEnd({ code: "UNAVAILABLE", details: undefined, error: { reason: "UPSTREAM_UNAVAILABLE", message: "down", metadata: {}, retryable: true } }));
    const { announce: _, ...unannounced } = upstreamEnd();
    await store.audit.recordEvent(unannounced);
    expect(await count(env, "events")).toBe(5);
    expect(await count(env, "outbox_notices")).toBe(1);
    expect((await all(store)).map((d) => (d.notice as SessionRevokedNotice).sessionId)).toEqual([session.id]);
  });

  it("announces an upstream end with its audit event: tenant, change date and the operation as txn", async () => {
    store.outbox.setConfiguredSubscribers([{ id: "receiver:a", maxAgeMs: 60_000 }]);
    await store.audit.recordEvent(upstreamEnd({ operationId: "op-9", reason: "gone" }));
    await store.audit.recordEvent(upstreamEnd({ sessionId: "z2", details: { sequence: 0n, resourceOwner: "" } }));
    const [second, first] = await all(store);
    expect(first!.notice).toEqual({
      kind: "session-revoked",
      userId: "z-user",
      sessionId: "z-session",
      provider: "zitadel",
      tenant: "org-7",
      endedAt: 1_750_000_000_500,
      initiatingEntity: "system",
      reason: "gone",
      txn: "op-9",
    });
    // No resource owner: no tenant; no change date: the event's time; no operation: the request id.
    expect(second!.notice).toEqual({ kind: "session-revoked", userId: "z-user", sessionId: "z2", provider: "zitadel", endedAt: 1_750_000_000_000, initiatingEntity: "system", txn: "q-up" });
  });

  it("rolls back the end, its audit event and its notice together when a delivery cannot be written", async () => {
    await env.sql(
      name === "sqlite"
        ? "CREATE TRIGGER poison BEFORE INSERT ON deliveries WHEN NEW.subscriber = 'receiver:poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
        : "ALTER TABLE deliveries ADD CONSTRAINT poison CHECK (subscriber <> 'receiver:poison')",
    );
    store.outbox.setConfiguredSubscribers([
      { id: "receiver:a", maxAgeMs: 60_000 },
      { id: "receiver:poison", maxAgeMs: 60_000 },
    ]);
    const s = await store.sessions.createSession({ userId: "u1", resourceOwner: "", metadata: {}, tokenHash: hashSessionToken("t") });
    await expect(store.sessions.terminateSession(s.id, { by: "alice", reason: "", requestId: "q1" }, template(s.id))).rejects.toThrow(/poison/);
    await expect(store.audit.recordEvent(upstreamEnd())).rejects.toThrow(/poison/);
    expect((await store.sessions.getSession(s.id))!.termination).toBeUndefined();
    expect(await count(env, "events")).toBe(0);
    expect(await count(env, "outbox_notices")).toBe(0);
    expect(await count(env, "deliveries")).toBe(0);
  });

  it("queues the user's notice once, when an operation becomes done with every session ended; none for one that failed or expired somewhere", async () => {
    store.outbox.setConfiguredSubscribers([{ id: "receiver:a", maxAgeMs: 60_000 }]);
    const { operation: op } = await store.operations.createOperation(operation("r1", { providers: [{ provider: "local", providerUserId: "u1" }, { provider: "zitadel", providerUserId: "z1" }] }));
    expect(op.initiatingEntity).toBe("user");
    await store.operations.completeListing(op.id, "local", []);
    expect(await all(store)).toEqual([]);
    await store.operations.completeListing(op.id, "zitadel", []);
    await store.operations.completeWork({ operationId: op.id, provider: "zitadel", kind: "list", sessionId: "" }, { state: "ended" });
    const [done] = await all(store);
    expect((await store.operations.getOperation(op.id))!.operation.done).toBe(true);
    expect(done!.notice).toEqual({ kind: "session-revoked", userId: "u1", endedAt: expect.any(Number), initiatingEntity: "user", reason: "compromised", txn: op.id });
    expect(await all(store)).toHaveLength(1);

    const { operation: late } = await store.operations.createOperation(operation("r2", { expiresAt: new Date(Date.now() - 1000), reason: "", initiatingEntity: "admin" }));
    expect(await store.operations.expireWork(new Date())).toBe(1);
    expect(await store.operations.expireWork(new Date())).toBe(0);
    expect((await store.operations.getOperation(late.id))!.operation.done).toBe(true);
    const { operation: failing } = await store.operations.createOperation(operation("r3"));
    await store.operations.completeWork({ operationId: failing.id, provider: "local", kind: "list", sessionId: "" }, { state: "failed", lastError: { code: "UNAVAILABLE", reason: "R", message: "m" } });
    expect((await store.operations.getOperation(failing.id))!.operation.done).toBe(true);
    expect((await all(store)).map((d) => d.notice)).toEqual([done!.notice]);
  });

  it("claims a subscriber's due deliveries for one worker until the lease ends, counting attempts; another worker takes them over after, and only its outcome counts", async () => {
    store.outbox.setConfiguredSubscribers([{ id: "receiver:a", maxAgeMs: 60_000 }, { id: "receiver:b", maxAgeMs: 60_000 }]);
    await endSession(store, "u1");
    await endSession(store, "u2");
    const claimed = await store.outbox.claimDeliveries("receiver:a", "w1", 300, 10);
    expect(claimed.map((d) => [(d.notice as SessionRevokedNotice).userId, d.subscriber, d.attempts])).toEqual([
      ["u1", "receiver:a", 1],
      ["u2", "receiver:a", 1],
    ]);
    expect(await store.outbox.claimDeliveries("receiver:a", "w2", 300, 10)).toEqual([]);
    expect(await store.outbox.dueSubscribers()).toEqual(["receiver:b"]);
    expect(await store.outbox.claimDeliveries("receiver:b", "w2", 60_000, 1)).toHaveLength(1);
    const taken = await until("the lease to end", async () => {
      const c = await store.outbox.claimDeliveries("receiver:a", "w2", 60_000, 10);
      return c.length > 0 && c;
    });
    expect(taken.map((d) => d.attempts)).toEqual([2, 2]);
    // The first worker's late outcome changes nothing: w2 holds the claim now; its own outcome counts.
    await store.outbox.completeDelivery(taken[0]!.id, "w1", { state: "failed", lastError: { message: "late" } });
    expect((await all(store, { subscriber: "receiver:a", state: "pending" })).map((d) => d.id)).toContain(taken[0]!.id);
    await store.outbox.completeDelivery(taken[0]!.id, "w2", { state: "delivered" });
    expect((await all(store, { state: "delivered" })).map((d) => d.id)).toEqual([taken[0]!.id]);
  });

  it("records outcomes: delivered and failed stay, a retry waits for its time, a dropped delivery is not brought back", async () => {
    store.outbox.setConfiguredSubscribers([{ id: "receiver:a", maxAgeMs: 60_000 }]);
    for (const u of ["u1", "u2", "u3", "u4"]) await endSession(store, u);
    const [d1, d2, d3, d4] = await store.outbox.claimDeliveries("receiver:a", "w1", 60_000, 10);
    await store.outbox.completeDelivery(d1!.id, "w1", { state: "delivered" });
    await store.outbox.completeDelivery(d2!.id, "w1", { state: "failed", lastError: { status: 400, err: "invalid_request", message: "the receiver refused the SET" } });
    await store.outbox.completeDelivery(d3!.id, "w1", { state: "pending", lastError: { message: "connection refused" }, nextAttemptAt: new Date(Date.now() + 60_000) });
    await env.sql(`UPDATE deliveries SET state = 'dropped' WHERE id = ${d4!.id}`);
    await store.outbox.completeDelivery(d4!.id, "w1", { state: "pending", nextAttemptAt: new Date() });
    const byId = new Map((await all(store)).map((d) => [d.id, d]));
    expect(byId.get(d1!.id)).toMatchObject({ state: "delivered", attempts: 1 });
    expect(byId.get(d2!.id)).toMatchObject({ state: "failed", lastError: { status: 400, err: "invalid_request", message: "the receiver refused the SET" } });
    expect(byId.get(d3!.id)).toMatchObject({ state: "pending", lastError: { message: "connection refused" } });
    expect(byId.get(d3!.id)!.nextAttemptAt.getTime()).toBeGreaterThan(Date.now() + 30_000);
    expect(byId.get(d4!.id)!.state).toBe("dropped");
    // Released, but not due before its time.
    expect(await store.outbox.claimDeliveries("receiver:a", "w2", 60_000, 10)).toEqual([]);
    expect(await store.outbox.dueSubscribers()).toEqual([]);
    expect(await store.outbox.pendingCounts()).toEqual(new Map([["receiver:a", 1]]));
  });

  it("deletes finished deliveries older than the retention, and notices left without one; pending ones stay, whatever their age", async () => {
    store.outbox.setConfiguredSubscribers([{ id: "receiver:a", maxAgeMs: 60_000 }, { id: "receiver:b", maxAgeMs: 60_000 }]);
    for (const u of ["u1", "u2", "u3"]) await endSession(store, u);
    const claimed = await store.outbox.claimDeliveries("receiver:a", "w1", 60_000, 10);
    for (const d of claimed) await store.outbox.completeDelivery(d.id, "w1", { state: "delivered" });
    const old = name === "sqlite" ? "0" : "'2000-01-01'";
    await env.sql(`UPDATE deliveries SET updated_at = ${old}`);
    await env.sql(`UPDATE outbox_notices SET created_at = ${old}`);
    const retention = new AuditRetention(store.audit, store.outbox, { days: 90, batch: 2 }, createLogger("silent"));
    // Receiver a's three are gone; b's are pending, so their notices stay.
    expect(await retention.run()).toBe(3);
    expect(await count(env, "outbox_notices")).toBe(3);
    expect((await all(store)).map((d) => [d.subscriber, d.state])).toEqual(Array(3).fill(["receiver:b", "pending"]));
    for (const d of await store.outbox.claimDeliveries("receiver:b", "w1", 60_000, 10)) await store.outbox.completeDelivery(d.id, "w1", { state: "failed" });
    await env.sql(`UPDATE deliveries SET updated_at = ${old}`);
    expect(await retention.run()).toBe(6);
    expect(await count(env, "outbox_notices")).toBe(0);
    expect(await count(env, "deliveries")).toBe(0);
  });

  it("leaves a paused stream's deliveries unclaimed, and sends a disabled one nothing new", async () => {
    await addStream(env, name, "s-paused", "paused", true);
    await endSession(store, "u1");
    expect(await store.outbox.pendingCounts()).toEqual(new Map([["stream:s-paused", 1]]));
    expect(await store.outbox.dueSubscribers()).toEqual([]);
    expect(await store.outbox.claimDeliveries("stream:s-paused", "w1", 60_000, 10)).toEqual([]);
    await env.sql("UPDATE ssf_streams SET status = 'enabled'");
    expect(await store.outbox.dueSubscribers()).toEqual(["stream:s-paused"]);
    expect(await store.outbox.claimDeliveries("stream:s-paused", "w1", 60_000, 10)).toHaveLength(1);
    await env.sql("UPDATE ssf_streams SET status = 'disabled'");
    await endSession(store, "u2");
    expect(await all(store)).toHaveLength(1);
  });

  it("enqueues a notice for one subscriber, and expires pending deliveries past their age, not those in flight", async () => {
    const told: string[][] = [];
    store.outbox.onQueued((s) => told.push([...s]));
    await store.outbox.enqueue({ kind: "verification", state: "abc" }, "stream:s1", 1000);
    await store.outbox.enqueue({ kind: "verification" }, "stream:s2", 1000);
    await until("the listeners told", () => told.length === 2);
    const [inFlight] = await store.outbox.claimDeliveries("stream:s2", "w1", 60_000, 1);
    expect(inFlight!.notice).toEqual({ kind: "verification" });
    expect(await store.outbox.expireDeliveries(new Date(Date.now() + 500))).toBe(0);
    expect(await store.outbox.expireDeliveries(new Date(Date.now() + 2000))).toBe(1);
    const [s2, s1] = await all(store);
    expect(s1).toMatchObject({ subscriber: "stream:s1", state: "expired", notice: { kind: "verification", state: "abc" } });
    expect(s2).toMatchObject({ subscriber: "stream:s2", state: "pending" });
  });

  it("lists deliveries newest first, by subscriber and state, page by page", async () => {
    store.outbox.setConfiguredSubscribers([{ id: "receiver:a", maxAgeMs: 60_000 }, { id: "receiver:b", maxAgeMs: 60_000 }]);
    for (const u of ["u1", "u2", "u3"]) await endSession(store, u);
    const [first] = await store.outbox.claimDeliveries("receiver:b", "w1", 60_000, 1);
    await store.outbox.completeDelivery(first!.id, "w1", { state: "delivered" });
    const users = (ds: Delivery[]) => ds.map((d) => `${d.subscriber}/${(d.notice as SessionRevokedNotice).userId}`);
    expect(users(await all(store, { subscriber: "receiver:b" }))).toEqual(["receiver:b/u3", "receiver:b/u2", "receiver:b/u1"]);
    expect(users(await all(store, { state: "delivered" }))).toEqual(["receiver:b/u1"]);
    expect(users(await all(store, { subscriber: "receiver:a", state: "delivered" }))).toEqual([]);
    const page1 = await store.outbox.listDeliveries({ limit: 4 });
    const page2 = await store.outbox.listDeliveries({ limit: 4, beforeId: page1[3]!.id });
    expect(page1.length + page2.length).toBe(6);
    expect([...page1, ...page2].map((d) => d.id)).toEqual((await all(store)).map((d) => d.id));
    expect(page1[0]!.id > page1[1]!.id).toBe(true);
    expect(await store.outbox.pendingCounts()).toEqual(new Map([["receiver:a", 3], ["receiver:b", 2]]));
  });

  it("releases claims on reopen only where one process owns the data (sqlite); leases hold across replicas (postgres)", async () => {
    store.outbox.setConfiguredSubscribers([{ id: "receiver:a", maxAgeMs: 60_000 }]);
    await endSession(store, "u1");
    expect(await store.outbox.claimDeliveries("receiver:a", "w1", 3_600_000, 10)).toHaveLength(1);
    await store.close();
    store = await env.open();
    expect(await store.outbox.claimDeliveries("receiver:a", "w2", 60_000, 10)).toHaveLength(name === "sqlite" ? 1 : 0);
  });
});

describe.skipIf(postgresSkip !== undefined)("postgres outbox on two replicas", () => {
  const schema = freshSchema();
  let a: PostgresStores;
  let b: PostgresStores;
  beforeEach(async () => {
    a = await PostgresStores.connect(postgresUrl, { schema, poolSize: 5 });
    b = await PostgresStores.connect(postgresUrl, { schema, poolSize: 5 });
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    await dropSchema(schema);
  });

  it("never gives two workers the same delivery while its lease holds", async () => {
    for (let i = 0; i < 100; i++) await a.outbox.enqueue({ kind: "verification", state: `v${i}` }, "stream:s1", 60_000);
    const seen: string[] = [];
    const worker = async (store: PostgresStores, name: string) => {
      for (;;) {
        const claims = await store.outbox.claimDeliveries("stream:s1", name, 60_000, 7);
        if (claims.length === 0) return;
        seen.push(...claims.map((d) => d.jti));
      }
    };
    await Promise.all([worker(a, "a1"), worker(b, "b1"), worker(a, "a2"), worker(b, "b2")]);
    expect(seen).toHaveLength(100);
    expect(new Set(seen).size).toBe(100);
  });
});
