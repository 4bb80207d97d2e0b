import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { failure } from "../helpers/errors.js";
import { counterValue } from "../helpers/metrics.js";
import { dropSchema, freshSchema, postgresSkipReason, storeUrl, withClient } from "../helpers/postgres.js";
import { bearer, METRICS_WITH_TOKEN, startTestService, type Role, type TestService } from "../helpers/service.js";

const postgresSkip = await postgresSkipReason();

const AUTH_LIMIT = 5;
const TOKEN_LIMIT = 3;
const WINDOW_MS = 60_000;
// /metrics is read with a token: it is not served without one.
const LIMITS = { limits: { failed_auth_per_address: AUTH_LIMIT, wrong_tokens_per_session: TOKEN_LIMIT, window_ms: WINDOW_MS }, metrics: METRICS_WITH_TOKEN };
const WRONG_KEY = "sck_wrong-key-that-is-guessed";

/** A gRPC client of the service whose connections come from `localAddress` (all of 127/8 is loopback). */
function clientFrom(svc: TestService, localAddress: string): Client<typeof SessionControl> {
  const createConnection = (authority: URL) => net.connect({ host: authority.hostname, port: Number(authority.port), localAddress });
  return createClient(SessionControl, createGrpcTransport({ baseUrl: svc.baseUrl, nodeOptions: { createConnection }, defaultTimeoutMs: 5_000 }));
}

/** REST DELETE from `localAddress`: the HTTP status and the JSON body. */
function restDelete(svc: TestService, localAddress: string, sessionId: string, key: string, body: unknown = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${svc.baseUrl}/v2/sessions/${encodeURIComponent(sessionId)}`,
      { method: "DELETE", localAddress, timeout: 5_000, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "content-length": Buffer.byteLength(text) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown> }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("REST call timed out")));
    req.on("error", reject);
    req.end(text);
  });
}

/** The ErrorInfo reason and the RetryInfo delay (ms) of a failure. */
function limitOf(err: ConnectError): { code: Code; reason: string | undefined; retryMs: number | undefined; message: string } {
  const retry = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
  return {
    code: err.code,
    reason: err.findDetails(ErrorInfoSchema)[0]?.reason,
    retryMs: retry && Number(retry.seconds) * 1000 + retry.nanos / 1e6,
    message: err.rawMessage,
  };
}

function expectLimited(err: ConnectError, reason: string): void {
  const got = limitOf(err);
  expect(got.code).toBe(Code.ResourceExhausted);
  expect(got.reason).toBe(reason);
  expect(got.retryMs).toBeGreaterThan(0);
  expect(got.retryMs).toBeLessThanOrEqual(WINDOW_MS);
}

describe("limits on guessing (SQLite: counters in memory)", () => {
  let svc: TestService;
  let local: Client<typeof SessionControl>;
  const as = (role: Role) => ({ headers: bearer(svc.keys[role]) });

  beforeAll(async () => {
    svc = await startTestService({}, LIMITS);
    local = clientFrom(svc, "127.0.0.1");
  });
  afterAll(async () => {
    await svc.stop();
  });

  it("answers RESOURCE_EXHAUSTED with RetryInfo past the failed authentications of an address; valid keys and other addresses go on", async () => {
    const attacker = clientFrom(svc, "127.0.0.2");
    for (let i = 0; i < AUTH_LIMIT; i++) {
      const err = await failure(attacker.listSessions({}, { headers: bearer(WRONG_KEY) }));
      expect(limitOf(err)).toMatchObject({ code: Code.Unauthenticated, reason: "API_KEY_INVALID", retryMs: undefined });
    }
    expectLimited(await failure(attacker.listSessions({}, { headers: bearer(WRONG_KEY) })), "TOO_MANY_FAILED_AUTHENTICATIONS");
    // No key at all is a failed authentication as well.
    expectLimited(await failure(attacker.listSessions({})), "TOO_MANY_FAILED_AUTHENTICATIONS");
    // A key holder behind the same address is not locked out.
    const created = await attacker.createSession({ userId: "u-addr", resourceOwner: "org" }, as("admin"));
    expect(created.sessionId).not.toBe("");
    // Another address is not affected.
    const neighbour = clientFrom(svc, "127.0.0.3");
    expect(limitOf(await failure(neighbour.listSessions({}, { headers: bearer(WRONG_KEY) }))).code).toBe(Code.Unauthenticated);
    // Other protocols share the count: Connect over HTTP/1.1 and REST.
    const connect = createClient(SessionControl, createConnectTransport({ baseUrl: svc.baseUrl, httpVersion: "1.1", nodeOptions: { localAddress: "127.0.0.2" } }));
    expectLimited(await failure(connect.listSessions({}, { headers: bearer(WRONG_KEY), timeoutMs: 5_000 })), "TOO_MANY_FAILED_AUTHENTICATIONS");
    const rest = await restDelete(svc, "127.0.0.2", created.sessionId, WRONG_KEY);
    expect(rest.status).toBe(429);
    expect(JSON.stringify(rest.body)).toContain("TOO_MANY_FAILED_AUTHENTICATIONS");
    expect(JSON.stringify(rest.body)).toContain("google.rpc.RetryInfo");
    expect((await restDelete(svc, "127.0.0.4", created.sessionId, WRONG_KEY)).status).toBe(401);
    // The key holder's REST call from the blocked address works.
    expect((await restDelete(svc, "127.0.0.2", created.sessionId, svc.keys.admin)).status).toBe(200);
  });

  it("counts refused unknown callers in metrics and the log, a few lines per address, never as audit rows or with the key", async () => {
    const before = (await local.listEvents({ pageSize: 1000 }, as("admin"))).events.length;
    const unknown = await counterValue(svc.baseUrl, "session_control_refused_total", { reason: "API_KEY_INVALID" });
    const limited = await counterValue(svc.baseUrl, "session_control_refused_total", { reason: "TOO_MANY_FAILED_AUTHENTICATIONS" });
    const attacker = clientFrom(svc, "127.0.0.5");
    const created = await local.createSession({ userId: "u-metrics", resourceOwner: "org" }, as("admin"));
    for (let i = 0; i < AUTH_LIMIT + 20; i++) await failure(attacker.terminate({ sessionId: created.sessionId }, { headers: bearer(`${WRONG_KEY}-${i}`) }));
    expect(await counterValue(svc.baseUrl, "session_control_refused_total", { reason: "API_KEY_INVALID" })).toBe(unknown + AUTH_LIMIT);
    expect(await counterValue(svc.baseUrl, "session_control_refused_total", { reason: "TOO_MANY_FAILED_AUTHENTICATIONS" })).toBe(limited + 20);
    expect((await local.listEvents({ pageSize: 1000 }, as("admin"))).events).toHaveLength(before);
    const lines = svc.logs.filter((l) => l["address"] === "127.0.0.5");
    expect(lines.map((l) => l["msg"])).toEqual([
      "refused a call without a known API key (logged once per address and window)",
      "too many failed authentications from this address: RESOURCE_EXHAUSTED until the window ends",
    ]);
    expect(svc.logText()).not.toContain(WRONG_KEY);
  });

  it("answers token-bearing calls for a session past its refused tokens RESOURCE_EXHAUSTED, alike for existing and missing ids", async () => {
    const created = await local.createSession({ userId: "u-token", resourceOwner: "org" }, as("admin"));
    const missing = "0123456789abcdef0123456789abcdef";
    for (const sessionId of [created.sessionId, missing]) {
      for (let i = 0; i < TOKEN_LIMIT; i++) {
        const err = await failure(local.terminate({ sessionId, sessionToken: `guess-${i}` }, as("nobody")));
        expect(err.code).toBe(Code.PermissionDenied);
      }
    }
    const events = async () => (await local.listEvents({ sessionId: created.sessionId, pageSize: 1000 }, as("admin"))).events.length;
    const audited = await events();
    expect(audited).toBe(TOKEN_LIMIT);
    const existing = await failure(local.terminate({ sessionId: created.sessionId, sessionToken: "guess-x" }, as("nobody")));
    const absent = await failure(local.terminate({ sessionId: missing, sessionToken: "guess-x" }, as("nobody")));
    expectLimited(existing, "TOO_MANY_WRONG_SESSION_TOKENS");
    const { retryMs: _e, ...existingShape } = limitOf(existing);
    const { retryMs: _a, ...absentShape } = limitOf(absent);
    expect(absentShape).toEqual(existingShape);
    // Refused before the token is checked: the right token too, and a caller with session.delete that sends one.
    expectLimited(await failure(local.terminate({ sessionId: created.sessionId, sessionToken: created.sessionToken }, as("nobody"))), "TOO_MANY_WRONG_SESSION_TOKENS");
    expectLimited(await failure(local.terminate({ sessionId: missing, sessionToken: "guess-y" }, as("deleter"))), "TOO_MANY_WRONG_SESSION_TOKENS");
    // REST goes through the same limit.
    const rest = await restDelete(svc, "127.0.0.1", created.sessionId, svc.keys.nobody, { sessionToken: "guess-z" });
    expect(rest.status).toBe(429);
    expect(JSON.stringify(rest.body)).toContain("TOO_MANY_WRONG_SESSION_TOKENS");
    // Blocked calls write no audit rows.
    expect(await events()).toBe(audited);
    expect(await counterValue(svc.baseUrl, "session_control_refused_total", { reason: "TOO_MANY_WRONG_SESSION_TOKENS" })).toBeGreaterThanOrEqual(5);
    // A caller holding session.delete without a token is not affected.
    const ended = await local.terminate({ sessionId: created.sessionId }, as("deleter"));
    expect(ended.alreadyTerminated).toBe(false);
    expect(svc.logText()).not.toContain(created.sessionToken);
  });
});

describe("refused session tokens per principal", () => {
  it("answers a key's token-bearing calls RESOURCE_EXHAUSTED past its refused tokens across made-up ids; other keys go on", async () => {
    const svc = await startTestService({}, { limits: { wrong_tokens_per_session: 100, wrong_tokens_per_principal: 3 } });
    try {
      const client = clientFrom(svc, "127.0.0.1");
      for (let i = 0; i < 3; i++) {
        expect((await failure(client.terminate({ sessionId: `made-up-${i}`, sessionToken: "guess" }, { headers: bearer(svc.keys.nobody) }))).code).toBe(Code.PermissionDenied);
      }
      expectLimited(await failure(client.terminate({ sessionId: "made-up-3", sessionToken: "guess" }, { headers: bearer(svc.keys.nobody) })), "TOO_MANY_WRONG_SESSION_TOKENS");
      const created = await client.createSession({ userId: "u", resourceOwner: "org" }, { headers: bearer(svc.keys.admin) });
      const ended = await client.terminate({ sessionId: created.sessionId, sessionToken: created.sessionToken }, { headers: bearer(svc.keys.reader) });
      expect(ended.alreadyTerminated).toBe(false);
    } finally {
      await svc.stop();
    }
  });
});

describe("limits on guessing with no limit configured", () => {
  it("never answers RESOURCE_EXHAUSTED with limits set to 0", async () => {
    const svc = await startTestService({}, { limits: { failed_auth_per_address: 0, wrong_tokens_per_session: 0 } });
    try {
      const client = clientFrom(svc, "127.0.0.6");
      for (let i = 0; i < 40; i++) expect((await failure(client.listSessions({}, { headers: bearer(WRONG_KEY) }))).code).toBe(Code.Unauthenticated);
      const created = await client.createSession({ userId: "u", resourceOwner: "org" }, { headers: bearer(svc.keys.admin) });
      for (let i = 0; i < 15; i++) {
        expect((await failure(client.terminate({ sessionId: created.sessionId, sessionToken: `guess-${i}` }, { headers: bearer(svc.keys.nobody) }))).code).toBe(Code.PermissionDenied);
      }
      // The log stays bounded without a limit too.
      expect(svc.logs.filter((l) => l["address"] === "127.0.0.6")).toHaveLength(1);
    } finally {
      await svc.stop();
    }
  });
});

describe.skipIf(postgresSkip !== undefined)("limits on guessing across two replicas (PostgreSQL)", () => {
  const schema = freshSchema();
  let a: TestService;
  let b: TestService;

  beforeAll(async () => {
    await withClient((c) => c.query(`CREATE SCHEMA ${schema}`));
    a = await startTestService({}, { ...LIMITS, store: storeUrl(schema) });
    b = await startTestService({}, { ...LIMITS, store: storeUrl(schema) });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await dropSchema(schema);
  });

  it("shares the failed authentications of an address", async () => {
    const fromA = clientFrom(a, "127.0.0.7");
    const fromB = clientFrom(b, "127.0.0.7");
    for (let i = 0; i < AUTH_LIMIT; i++) expect((await failure(fromA.listSessions({}, { headers: bearer(WRONG_KEY) }))).code).toBe(Code.Unauthenticated);
    expectLimited(await failure(fromB.listSessions({}, { headers: bearer(WRONG_KEY) })), "TOO_MANY_FAILED_AUTHENTICATIONS");
    expect((await fromB.listSessions({}, { headers: bearer(b.keys.admin) })).sessions).toBeDefined();
    const points = async () => (await withClient((c) => c.query<{ points: number }>("SELECT points FROM guess_limits WHERE key = 'auth:127.0.0.7'"), schema)).rows[0]?.points;
    expect(await points()).toBe(AUTH_LIMIT + 1);
    // Once blocked, the replica refuses from memory: no further store write.
    for (let i = 0; i < 10; i++) expectLimited(await failure(fromB.listSessions({}, { headers: bearer(WRONG_KEY) })), "TOO_MANY_FAILED_AUTHENTICATIONS");
    expect(await points()).toBe(AUTH_LIMIT + 1);
  });

  it("shares the refused tokens of a session", async () => {
    const ca = clientFrom(a, "127.0.0.1");
    const cb = clientFrom(b, "127.0.0.1");
    const created = await ca.createSession({ userId: "u-pg", resourceOwner: "org" }, { headers: bearer(a.keys.admin) });
    for (let i = 0; i < TOKEN_LIMIT; i++) {
      expect((await failure(ca.terminate({ sessionId: created.sessionId, sessionToken: `guess-${i}` }, { headers: bearer(a.keys.nobody) }))).code).toBe(Code.PermissionDenied);
    }
    expectLimited(await failure(cb.terminate({ sessionId: created.sessionId, sessionToken: created.sessionToken }, { headers: bearer(b.keys.nobody) })), "TOO_MANY_WRONG_SESSION_TOKENS");
    expect((await cb.terminate({ sessionId: created.sessionId }, { headers: bearer(b.keys.deleter) })).alreadyTerminated).toBe(false);
  });
});
