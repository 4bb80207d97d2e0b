import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashSessionToken } from "../../src/auth/session-token.js";
import type { NewOperation, WorkClaim } from "../../src/store/operation-types.js";
import { PostgresStores } from "../../src/store/postgres.js";
import { MIGRATIONS } from "../../src/store/postgres-migrations.js";
import { dropSchema, freshSchema, postgresSkipReason, postgresUrl, withClient } from "../helpers/postgres.js";
import { until } from "../helpers/wait.js";

const skip = await postgresSkipReason();

function operation(requestId: string, providers = [{ provider: "local", providerUserId: "u1" }]): NewOperation {
  return { userId: "u1", reason: "compromised", requestId, principal: "admin", expiresAt: new Date(Date.now() + 3_600_000), initiatingEntity: "admin", providers };
}

/** Two service instances sharing one database: two stores, each with its own pool, on the same schema. */
describe.skipIf(skip !== undefined)("two replicas on one PostgreSQL", () => {
  const schema = freshSchema();
  let a: PostgresStores;
  let b: PostgresStores;
  beforeAll(async () => {
    a = await PostgresStores.connect(postgresUrl, { schema, poolSize: 5 });
    b = await PostgresStores.connect(postgresUrl, { schema, poolSize: 5 });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await dropSchema(schema);
  });

  it("share one service secret: made once by whichever asks first, read by both", async () => {
    const [fromA, fromB] = await Promise.all([a.secrets.serviceSecret("work_request_id"), b.secrets.serviceSecret("work_request_id")]);
    expect(fromA).toHaveLength(32);
    expect(fromB).toEqual(fromA);
    const count = await withClient(async (c) => (await c.query<{ n: string }>("SELECT count(*) AS n FROM service_secrets")).rows[0]!.n, schema);
    expect(count).toBe("1");
  });

  it("records a session ended through both at once once; the other answers already terminated", async () => {
    for (let i = 0; i < 50; i++) {
      const s = await a.sessions.createSession({ userId: `u${i}`, resourceOwner: "org", metadata: {}, tokenHash: hashSessionToken(`t${i}`) });
      const [viaA, viaB] = await Promise.all([
        a.sessions.terminateSession(s.id, { by: "replica-a", reason: "r", requestId: `qa${i}` }),
        b.sessions.terminateSession(s.id, { by: "replica-b", reason: "r", requestId: `qb${i}` }),
      ]);
      expect([viaA?.alreadyTerminated, viaB?.alreadyTerminated].sort()).toEqual([false, true]);
      const winner = viaA!.alreadyTerminated ? viaB! : viaA!;
      // Both answers show the one termination that was recorded.
      expect(viaA!.session.termination).toEqual(winner.session.termination);
      expect(viaB!.session.termination).toEqual(winner.session.termination);
      expect(viaA!.session.sequence).toBe(viaB!.session.sequence);
      expect(winner.session.sequence).toBeGreaterThan(s.sequence);
      expect((await b.sessions.getSession(s.id))?.termination).toEqual(winner.session.termination);
    }
  });

  it("claims each of 100 due items exactly once across two workers while the leases hold", async () => {
    const { operation: op } = await a.operations.createOperation(operation("claims"));
    await a.operations.completeListing(op.id, "local", Array.from({ length: 100 }, (_, i) => `s${String(i).padStart(3, "0")}`));
    const claims: { worker: string; claim: WorkClaim }[] = [];
    // Two workers per replica, each claiming small batches until nothing is left for it.
    const worker = async (store: PostgresStores, name: string) => {
      for (;;) {
        const batch = await store.operations.claimWork(name, 60_000, 3, op.id);
        if (batch.length === 0) return;
        for (const claim of batch) claims.push({ worker: name, claim });
      }
    };
    await Promise.all([worker(a, "a1"), worker(a, "a2"), worker(b, "b1"), worker(b, "b2")]);
    const ids = claims.map((c) => c.claim.item.sessionId);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(100);
    expect(claims.every((c) => c.claim.item.attempts === 1 && c.claim.operation.id === op.id)).toBe(true);
    // Both replicas did some of it.
    expect(new Set(claims.map((c) => c.worker[0])).size).toBe(2);
    expect(await a.operations.claimWork("late", 60_000, 100, op.id)).toEqual([]);
    expect(await b.operations.claimWork("late", 60_000, 100, op.id)).toEqual([]);

    // Each worker completes what it claimed, through its own replica: the operation ends done.
    await Promise.all(claims.map(({ worker, claim }) => (worker.startsWith("a") ? a : b).operations.completeWork(claim.item, { state: "ended" })));
    const got = (await b.operations.getOperation(op.id))!;
    expect(got.operation.done).toBe(true);
    expect(got.items.filter((i) => i.kind === "end").every((i) => i.state === "ended" && i.attempts === 1)).toBe(true);
  });

  it("finishes, on the other replica, the work a replica held when it died, once its lease expired", async () => {
    const dying = await PostgresStores.connect(postgresUrl, { schema, poolSize: 2 });
    const { operation: op } = await dying.operations.createOperation(operation("takeover"));
    await dying.operations.completeListing(op.id, "local", ["s1", "s2", "s3", "s4"]);
    const held = await dying.operations.claimWork("dying-worker", 500, 2, op.id);
    expect(held).toHaveLength(2);
    // The replica dies: its connections go, its claims stay in the table, nothing completes them.
    await dying.close();

    // The survivor gets only what was not held.
    const free = await b.operations.claimWork("survivor", 60_000, 10, op.id);
    expect(free.map((c) => c.item.sessionId).sort()).toEqual(["s1", "s2", "s3", "s4"].filter((s) => !held.some((h) => h.item.sessionId === s)));
    for (const c of free) await b.operations.completeWork(c.item, { state: "ended" });
    expect(await b.operations.claimWork("survivor", 60_000, 10, op.id)).toEqual([]);
    expect((await b.operations.getOperation(op.id))!.operation.done).toBe(false);

    // The held items come free once their lease lapses: the survivor claims them then.
    const taken = await until("the dying replica's leases to lapse", async () => {
      const claimed = await b.operations.claimWork("survivor", 60_000, 10, op.id);
      return claimed.length > 0 && claimed;
    });
    expect(taken.map((c) => c.item.sessionId).sort()).toEqual(held.map((h) => h.item.sessionId).sort());
    expect(taken.every((c) => c.item.attempts === 2)).toBe(true);
    for (const c of taken) await b.operations.completeWork(c.item, { state: "ended" });
    const got = (await a.operations.getOperation(op.id))!;
    expect(got.operation.done).toBe(true);
    expect(got.items.every((i) => i.state === "ended")).toBe(true);
  });

  it("creates one operation for one request id sent to both at once", async () => {
    for (let i = 0; i < 10; i++) {
      const [viaA, viaB] = await Promise.all([a.operations.createOperation(operation(`same-${i}`)), b.operations.createOperation(operation(`same-${i}`))]);
      expect([viaA.created, viaB.created].sort()).toEqual([false, true]);
      expect(viaA.operation).toEqual(viaB.operation);
      expect((await a.operations.getOperation(viaA.operation.id))!.items).toHaveLength(1);
    }
  });

  it("completes the last two items of an operation on both at once and marks it done", async () => {
    for (let i = 0; i < 20; i++) {
      const { operation: op } = await a.operations.createOperation(operation(`last-${i}`));
      await a.operations.completeListing(op.id, "local", ["x", "y"]);
      await Promise.all([
        a.operations.completeWork({ operationId: op.id, provider: "local", kind: "end", sessionId: "x" }, { state: "ended" }),
        b.operations.completeWork({ operationId: op.id, provider: "local", kind: "end", sessionId: "y" }, { state: "ended" }),
      ]);
      expect((await a.operations.getOperation(op.id))!.operation.done).toBe(true);
    }
  });

  it("accepts a TOTP step on one replica only", async () => {
    for (let step = 0; step < 20; step++) {
      const results = await Promise.all([a.totpSteps.useTotpStep("alice", 1000 + step), b.totpSteps.useTotpStep("alice", 1000 + step)]);
      expect(results.filter(Boolean)).toHaveLength(1);
    }
  });

  it("migrates a fresh schema once when two replicas start at once", async () => {
    const fresh = freshSchema();
    try {
      const [x, y] = await Promise.all([PostgresStores.connect(postgresUrl, { schema: fresh }), PostgresStores.connect(postgresUrl, { schema: fresh })]);
      const all = MIGRATIONS.map((m) => m.version);
      expect([x.appliedMigrations, y.appliedMigrations]).toContainEqual(all);
      expect([x.appliedMigrations, y.appliedMigrations]).toContainEqual([]);
      const rows = await withClient(async (c) => (await c.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")).rows, fresh);
      expect(rows.map((r) => r.version)).toEqual(all);
      // Both work on the same tables.
      const s = await x.sessions.createSession({ userId: "u", resourceOwner: "org", metadata: {}, tokenHash: hashSessionToken("t") });
      expect((await y.sessions.getSession(s.id))?.userId).toBe("u");
      await Promise.all([x.close(), y.close()]);
    } finally {
      await dropSchema(fresh);
    }
  });
});
