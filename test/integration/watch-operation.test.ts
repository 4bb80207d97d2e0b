import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl, type Operation } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { EndLedger } from "../fakes/end-ledger.js";
import { FakeRocketChat } from "../fakes/rocketchat.js";
import { codeOf } from "../helpers/clients.js";
import { GrpcJsClient } from "../helpers/grpc-js.js";
import { counterValue } from "../helpers/metrics.js";
import { bearer, grpcClient, METRICS_WITH_TOKEN, startTestService, type Role, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

const RC_TOKEN_ENV = "SC_WATCH_RC_TOKEN";
const RC_TOKEN = "rc-token-watch";
const RC_ADMIN = "sc-admin";
const WATCHES = "session_control_operation_watches";

/** A way to call WatchOperation: its messages' operations as they come; the call's error thrown by the iteration. */
interface Watcher {
  name: string;
  watch(id: string, headers: Record<string, string>, opts?: { signal?: AbortSignal; timeoutMs?: number }): AsyncIterable<Operation>;
  close(): void;
}

function connectWatcher(name: string, transport: Transport): Watcher {
  const client = createClient(SessionControl, transport);
  return {
    name,
    async *watch(id, headers, opts = {}) {
      for await (const m of client.watchOperation({ id }, { headers, ...opts })) yield m.operation!;
    },
    close() {},
  };
}

/** Every protocol WatchOperation is served over: gRPC (grpc-js and connect-node), gRPC-web and Connect. */
function watchers(baseUrl: string): Watcher[] {
  const grpcJs = new GrpcJsClient(baseUrl.replace("http://", ""));
  return [
    {
      name: "@grpc/grpc-js",
      async *watch(id, headers, opts = {}) {
        for await (const m of grpcJs.serverStream(SessionControl.method.watchOperation, { id }, headers, opts)) yield m.operation!;
      },
      close: () => grpcJs.close(),
    },
    connectWatcher("connect-node gRPC (h2c)", createGrpcTransport({ baseUrl })),
    connectWatcher("connect-web gRPC-web (fetch)", createGrpcWebTransport({ baseUrl })),
    connectWatcher("connect-node Connect (HTTP/1.1)", createConnectTransport({ baseUrl, httpVersion: "1.1" })),
  ];
}

/** Reads a stream in the background: what came so far, how it ended (undefined while it goes on). */
function collect(messages: AsyncIterable<Operation>): { seen: Operation[]; end: Promise<Code | "ok"> } {
  const seen: Operation[] = [];
  const end = codeOf(
    (async () => {
      for await (const op of messages) seen.push(op);
    })(),
  );
  return { seen, end };
}

let rocket: FakeRocketChat;
let ledger: EndLedger;
let svc: TestService;
let client: Client<typeof SessionControl>;
let all: Watcher[];
let userN = 0;

const as = (role: Role) => bearer(svc.keys[role]);
const openWatches = () => counterValue(svc.baseUrl, WATCHES, {});

beforeAll(async () => {
  process.env[RC_TOKEN_ENV] = RC_TOKEN;
  rocket = await FakeRocketChat.start();
  rocket.reset({ userId: RC_ADMIN, authToken: RC_TOKEN });
  ledger = new EndLedger(rocket);
  svc = await startTestService({}, {
    metrics: METRICS_WITH_TOKEN,
    providers: providers(),
    // Quick background retries, so that an upstream back up is seen within a few hundred ms.
    operations: { poll_ms: 50, lease_ms: 5_000, retry_initial_ms: 100, retry_max_ms: 200, call_timeout_ms: 2_000, watch_poll_ms: 100, max_watches_per_caller: 2 },
  });
  client = grpcClient(svc);
  all = watchers(svc.baseUrl);
});
afterAll(async () => {
  for (const w of all ?? []) w.close();
  await svc?.stop();
  await rocket?.close();
  delete process.env[RC_TOKEN_ENV];
});
beforeEach(() => {
  ledger.logoutDown = false;
});
afterEach(async () => {
  // No test leaves a watch behind on the server.
  await until("every watch to have ended on the server", async () => (await openWatches()) === 0);
});

/** Every service here: the embedded store, and Rocket.Chat (one attempt per call: failures go to the operation's retries). */
function providers(): Record<string, unknown>[] {
  return [{ name: "local", type: "local" }, { name: "chat", type: "rocketchat", base_url: rocket.url, user_id: RC_ADMIN, auth_token: `env:${RC_TOKEN_ENV}`, max_attempts: 1, breaker_failures: 1000, timeout_ms: 2_000 }];
}

/**
 * A user with two sessions in the embedded store and two in Rocket.Chat, signed out everywhere
 * on `on` while Rocket.Chat refuses logouts (503): the operation is not done when TerminateUser
 * answers, its chat work waiting for a retry.
 */
async function pendingOperation(on: TestService = svc): Promise<Operation> {
  const c = on === svc ? client : grpcClient(on);
  const user = `watch-user-${++userN}`;
  ledger.logoutDown = true;
  for (let i = 0; i < 2; i++) await c.createSession({ userId: user }, { headers: bearer(on.keys.admin) });
  ledger.addSessions(user, 2);
  const { operation } = await c.terminateUser({ userId: user, reason: "watch" }, { headers: bearer(on.keys.admin), timeoutMs: 10_000 });
  expect(operation?.done).toBe(false);
  return operation!;
}

const chatOf = (op: Operation) => op.providers.find((p) => p.provider === "chat");

describe("WatchOperation", () => {
  describe.each([0, 1, 2, 3])("over protocol #%i", (i) => {
    const w = () => all[i]!;

    it("sends the operation at once, then each change while the upstream comes back, the last one done, then ends", async () => {
      const op = await pendingOperation();
      const stream = collect(w().watch(op.id, as("reader"), { timeoutMs: 20_000 }));
      await until(`${w().name}: the first message`, () => stream.seen.length >= 1);
      const first = stream.seen[0]!;
      expect(first.id).toBe(op.id);
      expect(first.done).toBe(false);
      expect(chatOf(first)?.failures.some((f) => f.code === "UNAVAILABLE" && f.retrying)).toBe(true);
      // Rocket.Chat is back: the background retries end the sessions, and the stream shows it.
      ledger.logoutDown = false;
      expect(await stream.end).toBe("ok");
      const seen = stream.seen;
      expect(seen.length).toBeGreaterThan(1);
      expect(seen.at(-1)!.done).toBe(true);
      expect(seen.slice(0, -1).every((o) => !o.done)).toBe(true);
      expect(chatOf(seen.at(-1)!)).toMatchObject({ sessionsEnded: 2, sessionsPending: 0, failures: [] });
      expect(seen.at(-1)!.providers.find((p) => p.provider === "local")).toMatchObject({ sessionsEnded: 2 });
      // Each message is a change: no two in a row are the same.
      for (let k = 1; k < seen.length; k++) expect(JSON.stringify(seen[k], big)).not.toBe(JSON.stringify(seen[k - 1], big));
      // The same message as GetOperation's.
      const got = await client.getOperation({ id: op.id }, { headers: as("reader") });
      expect(JSON.stringify(got.operation, big)).toBe(JSON.stringify(seen.at(-1), big));
    });

    it("an operation already done: one message, done, and the stream ends", async () => {
      const op = await pendingOperation();
      ledger.logoutDown = false;
      await until("the operation to be done", async () => (await client.getOperation({ id: op.id }, { headers: as("reader") })).operation?.done);
      const stream = collect(w().watch(op.id, as("reader"), { timeoutMs: 5_000 }));
      expect(await stream.end).toBe("ok");
      expect(stream.seen.map((o) => o.done)).toEqual([true]);
    });

    it("an unknown id is NOT_FOUND", async () => {
      const stream = collect(w().watch("no-such-operation", as("reader"), { timeoutMs: 5_000 }));
      expect(await stream.end).toBe(Code.NotFound);
      expect(stream.seen).toEqual([]);
      expect(await collect(w().watch("", as("reader"), { timeoutMs: 5_000 })).end).toBe(Code.NotFound);
    });

    it("needs session.read: refused before the operation is looked up, known or not", async () => {
      const op = await pendingOperation();
      for (const role of ["deleter", "alice", "nobody"] as const) {
        for (const id of [op.id, "no-such-operation"]) {
          const stream = collect(w().watch(id, as(role), { timeoutMs: 5_000 }));
          expect(await stream.end, `${role} ${id}`).toBe(Code.PermissionDenied);
          expect(stream.seen).toEqual([]);
        }
      }
      expect(await collect(w().watch(op.id, { authorization: "Bearer not-a-key" }, { timeoutMs: 5_000 })).end).toBe(Code.Unauthenticated);
    });

    it("a client that cancels ends the watch on the server", async () => {
      const op = await pendingOperation();
      const cancel = new AbortController();
      const stream = collect(w().watch(op.id, as("reader"), { signal: cancel.signal }));
      await until("the first message", () => stream.seen.length >= 1);
      expect(await openWatches()).toBe(1);
      cancel.abort();
      await stream.end.catch(() => undefined);
      await until("the server to have ended the watch", async () => (await openWatches()) === 0);
    });
  });

  it("ends with DEADLINE_EXCEEDED when the caller's deadline passes first, and the server's watch with it", async () => {
    const op = await pendingOperation();
    const started = Date.now();
    const stream = collect(all[1]!.watch(op.id, as("reader"), { timeoutMs: 600 }));
    expect(await stream.end).toBe(Code.DeadlineExceeded);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(stream.seen.length).toBeGreaterThanOrEqual(1);
    expect(stream.seen.every((o) => !o.done)).toBe(true);
  });

  it("at most operations.max_watches_per_caller of one caller: the next is RESOURCE_EXHAUSTED, saying so, while another caller still watches", async () => {
    const op = await pendingOperation();
    const cancel = new AbortController();
    const mine = [0, 1].map(() => collect(all[1]!.watch(op.id, as("reader"), { signal: cancel.signal })));
    await until("both of the reader's watches to be open", () => mine.every((s) => s.seen.length >= 1));
    const refused = await client.watchOperation({ id: op.id }, { headers: as("reader"), timeoutMs: 5_000 })[Symbol.asyncIterator]().next().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((refused as ConnectError).findDetails(ErrorInfoSchema)[0]?.reason).toBe("TOO_MANY_WATCHES");
    expect((refused as ConnectError).rawMessage).toContain("operations.max_watches_per_caller");
    const other = collect(all[1]!.watch(op.id, as("admin"), { signal: cancel.signal }));
    await until("the admin's watch to be open", () => other.seen.length >= 1);
    expect(await openWatches()).toBe(3);
    cancel.abort();
    await Promise.all([...mine, other].map((s) => s.end.catch(() => undefined)));
  });

  it("reads the operation when this process changes it, not only on its poll", async () => {
    // With a poll of a minute, only the fan-out's notices can show the progress in time.
    const slow = await startTestService({}, {
      providers: providers(),
      operations: { poll_ms: 50, retry_initial_ms: 100, retry_max_ms: 200, watch_poll_ms: 60_000 },
    });
    try {
      const operation = await pendingOperation(slow);
      const stream = collect(connectWatcher("gRPC", createGrpcTransport({ baseUrl: slow.baseUrl })).watch(operation.id, bearer(slow.keys.reader), { timeoutMs: 20_000 }));
      await until("the first message", () => stream.seen.length >= 1);
      ledger.logoutDown = false;
      expect(await stream.end).toBe("ok");
      expect(stream.seen.at(-1)!.done).toBe(true);
    } finally {
      await slow.stop();
    }
  });
});

describe("WatchOperation's bounds", () => {
  let small: TestService;
  beforeAll(async () => {
    small = await startTestService({ shutdown_grace_ms: 10_000 }, {
      metrics: METRICS_WITH_TOKEN,
      providers: providers(),
      operations: { retry_initial_ms: 60_000, retry_max_ms: 60_000, max_watches: 2 },
    });
  });
  afterAll(async () => {
    await small?.stop();
  });

  it("at most operations.max_watches at once: the next is RESOURCE_EXHAUSTED; server shutdown ends the open ones with UNAVAILABLE at once, not after the grace period", async () => {
    const c = grpcClient(small);
    const operation = await pendingOperation(small);
    const [a, b] = watchers(small.baseUrl);
    const open = [collect(a!.watch(operation.id, bearer(small.keys.reader))), collect(b!.watch(operation.id, bearer(small.keys.reader)))];
    await until("both watches to be open", () => open.every((s) => s.seen.length >= 1));
    expect(await counterValue(small.baseUrl, WATCHES, {})).toBe(2);

    let refusal: unknown;
    try {
      for await (const _ of c.watchOperation({ id: operation.id }, { headers: bearer(small.keys.reader), timeoutMs: 5_000 })) throw new Error("a message past the limit");
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(ConnectError);
    expect((refusal as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((refusal as ConnectError).findDetails(ErrorInfoSchema)[0]?.reason).toBe("TOO_MANY_WATCHES");

    const stopping = Date.now();
    await small.stop();
    // The grace period is 10 s: the watches did not hold the shutdown for it.
    expect(Date.now() - stopping).toBeLessThan(5_000);
    expect(await Promise.all(open.map((s) => s.end))).toEqual([Code.Unavailable, Code.Unavailable]);
    a!.close();
    small = undefined as unknown as TestService;
  });
});

function big(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? String(v) : v;
}
