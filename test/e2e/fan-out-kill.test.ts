import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { EndLedger } from "../fakes/end-ledger.js";
import { FakeRocketChat } from "../fakes/rocketchat.js";
import { childSetup, childTestTimeout, killAllChildren, startChild, type ChildSetup } from "../helpers/child-service.js";
import { operationDone } from "../helpers/operations.js";
import { until } from "../helpers/wait.js";

const SESSIONS = 60;
const CONCURRENCY = 2;
const DELAY_MS = 150;

/** The service's configuration: the fake as provider "chat", a small lease, a slow fan-out. */
function serviceSetup(fake: FakeRocketChat, grace = 0): ChildSetup {
  return childSetup(
    {
      server: { shutdown_grace_ms: grace },
      providers: [
        { name: "chat", type: "rocketchat", base_url: fake.url, user_id: "sc-admin", auth_token: "env:SC_KILL_RC_TOKEN", max_attempts: 1, breaker_failures: 1000, timeout_ms: 5_000 },
      ],
      operations: { poll_ms: 50, lease_ms: 500, concurrency_per_provider: CONCURRENCY, retry_initial_ms: 50, retry_max_ms: 200, call_timeout_ms: 5_000 },
    },
    { SC_KILL_RC_TOKEN: "rc-token-kill" },
  );
}

/**
 * The fake upstream lives in the test process: it outlives the service, which runs as a child
 * process and is killed with SIGKILL in the middle of a sign-out-everywhere.
 */
describe("TerminateUser survives SIGKILL in the middle of its fan-out", { timeout: childTestTimeout(2) }, () => {
  let fake: FakeRocketChat;
  let setup: ChildSetup;

  beforeAll(async () => {
    fake = await FakeRocketChat.start();
  });
  afterEach(() => {
    killAllChildren();
    setup?.cleanup();
  });
  afterAll(async () => {
    await fake?.close();
  });

  it("finishes the remaining work after restart, ending every session upstream exactly once", async () => {
    fake.reset({ userId: "sc-admin", authToken: "rc-token-kill" });
    const ledger = new EndLedger(fake);
    ledger.delayMs = DELAY_MS;
    const sessions = ledger.addSessions("victim", SESSIONS, "rc-sess");
    // Another user's session: never touched.
    fake.addSession({ sessionId: "bystander-1", userId: "bystander", loginToken: "lt-bystander" });

    setup = serviceSetup(fake);
    const first = await startChild(setup);
    const requestId = randomUUID();
    const request = { userId: "victim", reason: "account compromised", requestId };

    // A short deadline: the call answers while the fan-out goes on.
    const started = await first.client.terminateUser(request, { headers: setup.headers, timeoutMs: 2_000 });
    const opId = started.operation!.id;
    expect(opId).not.toBe("");
    expect(started.operation!.done).toBe(false);

    // Some, not all, sessions ended: SIGKILL.
    await until("10 sessions ended upstream", () => ledger.endedTotal >= 10, { everyMs: 2 });
    await first.kill();
    const endedAtKill = ledger.endedTotal;
    expect(endedAtKill).toBeLessThan(SESSIONS);
    // Requests already on the wire reach the fake after the kill: let them land, which they have once the killed process's connections are closed.
    await until(() => `the killed process's connections to close (${fake.openConnections()} open)`, () => fake.openConnections() === 0);
    const callsBeforeRestart = ledger.calls.length;
    expect(callsBeforeRestart).toBeLessThan(SESSIONS);

    // Restarted on the same data dir, it finishes the work by itself.
    const second = await startChild(setup);
    const done = await operationDone(second.client, opId, setup.headers, { timeoutMs: 20_000, progress: () => `ended upstream: ${ledger.endedTotal}/${SESSIONS}` });

    // Every session ended upstream exactly once; none left; the bystander untouched.
    expect(ledger.active()).toEqual(["bystander-1"]);
    expect([...ledger.ended.keys()].sort()).toEqual(sessions);
    expect([...ledger.ended.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(ledger.calls).not.toContain("bystander-1");
    // At most the calls in flight at the kill were made twice.
    expect(ledger.calls.length).toBeLessThanOrEqual(SESSIONS + CONCURRENCY);
    expect(ledger.notFound).toBeLessThanOrEqual(CONCURRENCY);

    const chat = done.providers.find((p) => p.provider === "chat")!;
    expect(chat.listed).toBe(true);
    expect(chat.sessionsPending).toBe(0);
    expect(chat.failures).toEqual([]);
    expect(chat.sessionsEnded + chat.sessionsAlreadyEnded).toBe(SESSIONS);
    // Those the killed process ended but never heard back about are the already-ended ones.
    expect(chat.sessionsAlreadyEnded).toBe(ledger.notFound);

    // The same request id: the same operation, and no upstream call.
    const callsBefore = fake.requests.length;
    const again = await second.client.terminateUser(request, { headers: setup.headers });
    expect(again.operation!.id).toBe(opId);
    expect(again.operation!.done).toBe(true);
    expect(fake.requests.length).toBe(callsBefore);

    await second.kill();
  });

  it("finishes, after restart, the work that a SIGTERM stopped mid-way, ending every session exactly once", async () => {
    fake.reset({ userId: "sc-admin", authToken: "rc-token-kill" });
    const ledger = new EndLedger(fake);
    ledger.delayMs = DELAY_MS;
    const sessions = ledger.addSessions("victim-term", SESSIONS, "rc-term");
    setup = serviceSetup(fake, 100);
    const first = await startChild(setup);
    const request = { userId: "victim-term", reason: "account compromised", requestId: randomUUID() };
    const started = await first.client.terminateUser(request, { headers: setup.headers, timeoutMs: 2_000 });
    const opId = started.operation!.id;

    await until("10 sessions ended upstream", () => ledger.endedTotal >= 10, { everyMs: 2 });
    first.child.kill("SIGTERM");
    expect(await first.exited, first.stderr()).toEqual({ code: 0, signal: null });
    expect(ledger.endedTotal).toBeLessThan(SESSIONS);

    const second = await startChild(setup);
    const done = await operationDone(second.client, opId, setup.headers, { timeoutMs: 20_000, progress: () => `ended upstream: ${ledger.endedTotal}/${SESSIONS}` });
    const chat = done.providers.find((p) => p.provider === "chat")!;
    expect(chat.failures).toEqual([]);
    expect(ledger.active()).toEqual([]);
    expect([...ledger.ended.keys()].sort()).toEqual(sessions);
    expect([...ledger.ended.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(ledger.calls.length).toBeLessThanOrEqual(SESSIONS + CONCURRENCY);
    expect(chat.sessionsEnded + chat.sessionsAlreadyEnded).toBe(SESSIONS);
    await second.kill();
  });
});
