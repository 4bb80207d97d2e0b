import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@connectrpc/connect";
import type { Operation, SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { EndLedger } from "../fakes/end-ledger.js";
import { FakeRocketChat } from "../fakes/rocketchat.js";
import { childSetup, childTestTimeout, killAllChildren, startChild, type ChildSetup } from "../helpers/child-service.js";
import { counterValue } from "../helpers/metrics.js";
import { dropSchema, freshSchema, postgresSkipReason, storeUrl, withClient } from "../helpers/postgres.js";
import { operationDone } from "../helpers/operations.js";
import { bearer, grpcClient, METRICS_WITH_TOKEN, startTestService, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

const skip = await postgresSkipReason();

const RC_TOKEN_ENV = "SC_TWO_REPLICAS_RC_TOKEN";
const RC_TOKEN = "rc-token-two-replicas";
const RC_ADMIN = "sc-admin";

/** One replica as the tests use it: the service, a client, and its admin key's header. */
interface Replica {
  svc: TestService;
  client: Client<typeof SessionControl>;
  headers: Record<string, string>;
}

/** A Prometheus counter's value in a replica's /metrics (0 when absent). */
function counter(r: Replica, name: string, labels: Record<string, string>): Promise<number> {
  return counterValue(r.svc.baseUrl, name, labels);
}

function rocketchat(fake: FakeRocketChat, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: "chat", type: "rocketchat", base_url: fake.url, user_id: RC_ADMIN, auth_token: `env:${RC_TOKEN_ENV}`, max_attempts: 1, breaker_failures: 1000, timeout_ms: 2_000, ...extra };
}

function waitDone(r: Replica, id: string, progress: () => string, timeoutMs?: number): Promise<Operation> {
  return operationDone(r.client, id, r.headers, { progress, ...(timeoutMs !== undefined && { timeoutMs }) });
}

/** Two (or more) service instances sharing one PostgreSQL: a fresh schema, each replica with its own port and keys. */
describe.skipIf(skip !== undefined)("two service replicas on one PostgreSQL", { timeout: childTestTimeout(1) }, () => {
  let fake: FakeRocketChat;
  const schemas: string[] = [];
  const replicas: Replica[] = [];
  const setups: ChildSetup[] = [];

  async function newSchema(): Promise<string> {
    const schema = freshSchema();
    schemas.push(schema);
    // A schema named by the URL's search_path must exist: the service migrates into it.
    await withClient((c) => c.query(`CREATE SCHEMA ${schema}`));
    return schema;
  }

  async function startReplicas(n: number, schema: string, extra: Record<string, unknown> = {}): Promise<Replica[]> {
    const started = await Promise.all(
      Array.from({ length: n }, async () => {
        const svc = await startTestService({ shutdown_grace_ms: 0 }, { store: storeUrl(schema), metrics: METRICS_WITH_TOKEN, ...extra });
        const r: Replica = { svc, client: grpcClient(svc), headers: bearer(svc.keys.admin) };
        replicas.push(r);
        return r;
      }),
    );
    return started;
  }

  beforeAll(async () => {
    process.env[RC_TOKEN_ENV] = RC_TOKEN;
    fake = await FakeRocketChat.start();
  });
  afterEach(async () => {
    killAllChildren();
    await Promise.all(replicas.splice(0).map((r) => r.svc.stop()));
    for (const s of setups.splice(0)) s.cleanup();
    for (const schema of schemas.splice(0)) await dropSchema(schema);
  });
  afterAll(async () => {
    await fake?.close();
    delete process.env[RC_TOKEN_ENV];
  });

  it("(a) a session ended through both replicas at the same moment is ended once; the other answers already_terminated; the audit shows both", async () => {
    const [a, b] = await startReplicas(2, await newSchema());
    for (let i = 0; i < 20; i++) {
      const created = await a!.client.createSession({ userId: `user-${i}` }, { headers: a!.headers });
      const viaA = randomUUID();
      const viaB = randomUUID();
      const [ra, rb] = await Promise.all([
        a!.client.terminate({ sessionId: created.sessionId, requestId: viaA, reason: "via a" }, { headers: a!.headers }),
        b!.client.terminate({ sessionId: created.sessionId, requestId: viaB, reason: "via b" }, { headers: b!.headers }),
      ]);
      expect([ra.alreadyTerminated, rb.alreadyTerminated].sort()).toEqual([false, true]);
      // Both answers show the one termination recorded.
      expect(ra.details?.sequence).toBe(rb.details?.sequence);
      expect(ra.details?.sequence).toBeGreaterThan(created.details!.sequence);
      const winner = ra.alreadyTerminated ? { requestId: viaB, reason: "via b" } : { requestId: viaA, reason: "via a" };
      for (const r of [a!, b!]) {
        const { session } = await r.client.getSession({ sessionId: created.sessionId }, { headers: r.headers });
        expect(session?.termination?.requestId).toBe(winner.requestId);
        expect(session?.termination?.reason).toBe(winner.reason);
        expect(session?.sequence).toBe(ra.details?.sequence);
      }
      // The audit, read through either replica, has both calls with their answers.
      for (const r of [a!, b!]) {
        const { events } = await r.client.listEvents({ sessionId: created.sessionId }, { headers: r.headers });
        const seen = events.map((e) => ({ requestId: e.requestId, code: e.code, alreadyTerminated: e.alreadyTerminated, provider: e.provider }));
        expect(seen).toHaveLength(2);
        expect(seen).toEqual(
          expect.arrayContaining([
            { requestId: viaA, code: "OK", alreadyTerminated: ra.alreadyTerminated, provider: "local" },
            { requestId: viaB, code: "OK", alreadyTerminated: rb.alreadyTerminated, provider: "local" },
          ]),
        );
      }
    }
  });

  it("(b) background work is claimed by one replica at a time: an upstream that was down, then comes back, sees each session ended once", async () => {
    fake.reset({ userId: RC_ADMIN, authToken: RC_TOKEN });
    const ledger = new EndLedger(fake);
    const sessions = ledger.addSessions("victim-b", 40, "b-sess");
    const [a, b] = await startReplicas(2, await newSchema(), {
      providers: [rocketchat(fake)],
      operations: { poll_ms: 20, lease_ms: 5_000, concurrency_per_provider: 4, retry_initial_ms: 600, retry_max_ms: 1_000, call_timeout_ms: 2_000 },
    });

    // Down: the listing fails, and is retried in the background.
    ledger.listDown = true;
    ledger.logoutDown = true;
    const { operation: started } = await a!.client.terminateUser({ userId: "victim-b", reason: "compromised", requestId: randomUUID() }, { headers: a!.headers, timeoutMs: 2_000 });
    const opId = started!.id;
    expect(started!.done).toBe(false);
    // Either replica's worker may have taken the listing; its failure shows through both.
    for (const r of [a!, b!]) {
      const chat0 = await until("the listing's failure", async () => {
        const { operation } = await r.client.getOperation({ id: opId }, { headers: r.headers });
        const chat = operation!.providers.find((p) => p.provider === "chat")!;
        return chat.failures.length > 0 ? chat : undefined;
      });
      expect(chat0.listed).toBe(false);
      expect(chat0.failures.map((f) => [f.reason, f.retrying])).toEqual([["UPSTREAM_UNAVAILABLE", true]]);
    }

    // Back for listing (ending still fails): listed once, by one replica; every session waits for a retry.
    const listsBefore = fake.requests.filter((r) => r.pathname === "/api/v1/sessions/list.all").length;
    ledger.listDown = false;
    await until("the listing, and every session failing once", async () => {
      const { operation } = await b!.client.getOperation({ id: opId }, { headers: b!.headers });
      const chat = operation!.providers.find((p) => p.provider === "chat")!;
      return chat.listed && chat.sessionsPending === 40 && chat.failures.length === 40;
    });
    const lists = fake.requests.filter((r) => r.pathname === "/api/v1/sessions/list.all").slice(listsBefore);
    expect(lists.filter((r) => r.answer?.status === 200)).toHaveLength(1);
    expect(ledger.ended.size).toBe(0);

    // Back entirely: both replicas' workers take the due retries, none the same one.
    const okBefore = [await counter(a!, "session_control_terminations_total", { provider: "chat", code: "OK" }), await counter(b!, "session_control_terminations_total", { provider: "chat", code: "OK" })];
    expect(okBefore).toEqual([0, 0]);
    ledger.logoutDown = false;
    const done = await waitDone(b!, opId, () => `ended ${ledger.endedTotal}/40`);

    expect(ledger.active()).toEqual([]);
    expect([...ledger.ended.keys()].sort()).toEqual(sessions);
    expect([...ledger.ended.values()].every((n) => n === 1)).toBe(true);
    // No session was called for after it ended: no two workers held the same item.
    expect(ledger.notFound).toBe(0);
    const chat = done.providers.find((p) => p.provider === "chat")!;
    expect(chat).toMatchObject({ listed: true, sessionsEnded: 40, sessionsAlreadyEnded: 0, sessionsPending: 0, failures: [] });
    // After the comeback, one call per session: the 503s aside, nothing was called twice.
    expect(ledger.calls.length - ledger.refused).toBe(40);
    const okA = await counter(a!, "session_control_terminations_total", { provider: "chat", code: "OK" });
    const okB = await counter(b!, "session_control_terminations_total", { provider: "chat", code: "OK" });
    expect(okA + okB).toBe(40);
    // Both replicas did part of the work.
    expect(okA).toBeGreaterThan(0);
    expect(okB).toBeGreaterThan(0);
    // The audit of the operation: one successful termination per session.
    const { events } = await a!.client.listEvents({ userId: "victim-b", pageSize: 1000 }, { headers: a!.headers });
    const ok = events.filter((e) => e.operationId === opId && e.code === "OK");
    expect(ok.map((e) => e.sessionId).sort()).toEqual(sessions);
    // Every attempt at a session, whichever replica made it, used one request id: the replicas share the key of work ids.
    const idsOf = new Map<string, Set<string>>();
    for (const e of events.filter((x) => x.operationId === opId)) idsOf.set(e.sessionId, (idsOf.get(e.sessionId) ?? new Set()).add(e.requestId));
    expect(idsOf.size).toBe(40);
    expect([...idsOf.values()].filter((ids) => ids.size !== 1)).toEqual([]);
  });

  it("(c) a replica killed (SIGKILL) while it holds claims: the other finishes its work once the lease lapses, each session ended once", async () => {
    const LEASE_MS = 500;
    const SESSIONS = 60;
    const CONCURRENCY = 2;
    fake.reset({ userId: RC_ADMIN, authToken: RC_TOKEN });
    const ledger = new EndLedger(fake);
    ledger.delayMs = 250;
    const sessions = ledger.addSessions("victim-c", SESSIONS, "c-sess");
    const schema = await newSchema();
    const operations = { poll_ms: 20, lease_ms: LEASE_MS, concurrency_per_provider: CONCURRENCY, retry_initial_ms: 100, retry_max_ms: 500, call_timeout_ms: 2_000 };
    const setup = childSetup({ server: { shutdown_grace_ms: 0 }, store: storeUrl(schema), providers: [rocketchat(fake)], operations }, { [RC_TOKEN_ENV]: RC_TOKEN });
    setups.push(setup);
    const doomed = await startChild(setup);

    // The doomed replica takes the operation: it lists the sessions and claims them all.
    const { operation: started } = await doomed.client.terminateUser(
      { userId: "victim-c", reason: "compromised", requestId: randomUUID() },
      { headers: setup.headers, timeoutMs: 2_000 },
    );
    const opId = started!.id;
    // Its answer may come before its listing reaches the upstream (a loaded machine): wait for it.
    const listed = await until("the doomed replica's listing", () => fake.requests.find((r) => r.pathname === "/api/v1/sessions/list.all"));
    expect(listed).toBeDefined();
    // The survivor, its worker polling, beside it; then SIGKILL while the doomed one holds claims.
    const [survivor] = await startReplicas(1, schema, { providers: [rocketchat(fake)], operations });
    await until("8 sessions ended upstream", () => ledger.endedTotal >= 8, { everyMs: 2 });
    await doomed.kill();
    const killedAt = Date.now();
    expect(ledger.endedTotal).toBeLessThan(SESSIONS);

    const done = await waitDone(survivor!, opId, () => `ended ${ledger.endedTotal}/${SESSIONS}`);

    const chat = done.providers.find((p) => p.provider === "chat")!;
    expect(chat).toMatchObject({ listed: true, sessionsPending: 0, failures: [] });
    expect(ledger.active()).toEqual([]);
    expect([...ledger.ended.keys()].sort()).toEqual(sessions);
    expect([...ledger.ended.values()].every((n) => n === 1)).toBe(true);
    // At most the calls in flight at the kill were made twice.
    expect(ledger.calls.length).toBeLessThanOrEqual(SESSIONS + CONCURRENCY);
    expect(ledger.notFound).toBeLessThanOrEqual(CONCURRENCY);
    expect(chat.sessionsEnded + chat.sessionsAlreadyEnded).toBe(SESSIONS);
    expect(chat.sessionsAlreadyEnded).toBe(ledger.notFound);

    // The survivor took the work over, and not before a claim of the doomed replica lapsed
    // (its first claims came after the listing was answered, for LEASE_MS; the database's clock is this host's).
    expect(await counter(survivor!, "session_control_terminations_total", { provider: "chat" })).toBeGreaterThan(0);
    const takenOver = fake.requests.filter((r) => r.pathname === "/api/v1/sessions/logout" && r.receivedAt > killedAt + 100);
    expect(takenOver.length).toBeGreaterThan(0);
    expect(Math.min(...takenOver.map((r) => r.receivedAt))).toBeGreaterThanOrEqual(listed.receivedAt + ledger.delayMs + LEASE_MS - 20);
  });

  it("(d) a fan-out that outlasts the lease: the other replica does not take work the first still has queued", async () => {
    const LEASE_MS = 4_000;
    fake.reset({ userId: RC_ADMIN, authToken: RC_TOKEN });
    const ledger = new EndLedger(fake);
    ledger.delayMs = 250;
    const sessions = ledger.addSessions("victim-d", 40, "d-sess");
    // 40 sessions, 2 at a time, 250 ms each: about 5 s of work, claimed at once, for a lease of 4 s.
    // The lease is above call_timeout_ms, as the configuration asks: a call starts only while 2 s of its
    // claim are left and is cut at 2 s, so none outlasts its claim however loaded the machine. (With a
    // lease of 300 ms, below call_timeout_ms, a call started with half the lease left outlasted it under
    // load, and the other replica repeated it.)
    const [a, b] = await startReplicas(2, await newSchema(), {
      providers: [rocketchat(fake)],
      operations: { poll_ms: 20, lease_ms: LEASE_MS, concurrency_per_provider: 2, retry_initial_ms: 100, retry_max_ms: 500, call_timeout_ms: 2_000 },
    });
    const { operation: started } = await a!.client.terminateUser({ userId: "victim-d", reason: "compromised", requestId: randomUUID() }, { headers: a!.headers, timeoutMs: 2_000 });
    const done = await waitDone(b!, started!.id, () => `ended ${ledger.endedTotal}/40`, 40_000);

    expect(ledger.active()).toEqual([]);
    expect([...ledger.ended.keys()].sort()).toEqual(sessions);
    expect([...ledger.ended.values()].every((n) => n === 1)).toBe(true);
    // Never two workers on one session: one call each.
    expect(ledger.notFound).toBe(0);
    expect(ledger.calls).toHaveLength(40);
    expect(done.providers.find((p) => p.provider === "chat")).toMatchObject({ listed: true, sessionsEnded: 40, sessionsAlreadyEnded: 0, sessionsPending: 0, failures: [] });
  });
});
