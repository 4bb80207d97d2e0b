import { randomBytes, randomUUID } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { createServerTransport } from "@zitadel/client/node";
import { createSessionServiceClient } from "@zitadel/client/v2";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { FakeRocketChat } from "../fakes/rocketchat.js";
import { listDeliveries } from "../helpers/deliveries.js";
import { operationDone } from "../helpers/operations.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";
import { SESSION_REVOKED, SetReceiver, type Hit, type ReceivedSet, type ReceivedWebhook, type SessionRevokedEvent } from "../helpers/set-receiver.js";
import { until } from "../helpers/wait.js";

const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString("base64")}`;
const RC_TOKEN = `rc-token-${randomUUID()}`;
/** The value the service sends as Authorization to the opaque receiver (a secret: never in a log). */
const RECEIVER_AUTH = `Bearer rcv-${randomUUID()}`;
const OPAQUE_AUDIENCE = "urn:example:receiver:opaque";

let svc: TestService;
let client: Client<typeof SessionControl>;
let rocket: FakeRocketChat;
/** SSF, complex subjects, default audience (its origin). */
let complex: SetReceiver;
/** SSF, opaque subjects, a configured audience and Authorization. */
let opaque: SetReceiver;
let webhook: SetReceiver;
/** SSF; goes down and answers 503 in one test, else accepts. */
let flaky: SetReceiver;
/** SSF; refuses every SET with 400 invalid_audience. */
let strict: SetReceiver;
/** SSF; refuses our credentials (401) on every SET. */
let refusing: SetReceiver;

beforeAll(async () => {
  [complex, opaque, webhook, flaky, strict, refusing, rocket] = await Promise.all([
    SetReceiver.ssf("complex"),
    SetReceiver.ssf("opaque"),
    SetReceiver.webhook(WEBHOOK_SECRET),
    SetReceiver.ssf("complex"),
    SetReceiver.ssf(),
    SetReceiver.ssf(),
    FakeRocketChat.start(),
  ]);
  strict.answer = { status: 400, body: { err: "invalid_audience", description: "this receiver is not the audience" } };
  refusing.answer = { status: 401 };
  rocket.reset({ userId: "rc-admin", authToken: RC_TOKEN });
  process.env["NR_WEBHOOK_SECRET"] = WEBHOOK_SECRET;
  process.env["NR_RECEIVER_AUTH"] = RECEIVER_AUTH;
  process.env["NR_RC_TOKEN"] = RC_TOKEN;
  svc = await startTestService({}, {
    providers: [
      { name: "local", type: "local" },
      { name: "chat", type: "rocketchat", base_url: rocket.url, user_id: "rc-admin", auth_token: "env:NR_RC_TOKEN", max_attempts: 1, breaker_failures: 1000, timeout_ms: 5000 },
    ],
    default_provider: "local",
    operations: { poll_ms: 50, lease_ms: 5000, retry_initial_ms: 100, retry_max_ms: 300, concurrency_per_provider: 2, call_timeout_ms: 4000 },
    notifications: {
      receivers: [
        { name: "complex", kind: "ssf", endpoint: complex.url },
        { name: "opaque", kind: "ssf", endpoint: opaque.url, subject_format: "opaque", audience: OPAQUE_AUDIENCE, authorization: "env:NR_RECEIVER_AUTH" },
        { name: "hook", kind: "webhook", endpoint: webhook.url, secret: "env:NR_WEBHOOK_SECRET" },
        { name: "flaky", kind: "ssf", endpoint: flaky.url },
        { name: "strict", kind: "ssf", endpoint: strict.url },
        { name: "refusing", kind: "ssf", endpoint: refusing.url },
      ],
      poll_ms: 50,
      lease_ms: 5000,
      request_timeout_ms: 2000,
      retry_initial_ms: 50,
      retry_max_ms: 300,
      // Far beyond any test: a 401 is tried again only after this.
      misconfigured_retry_ms: 600_000,
    },
  });
  client = grpcClient(svc);
  const trust = (audience: string) => ({ issuer: svc.baseUrl, jwksUrl: `${svc.baseUrl}/jwks.json`, audience });
  complex.trust(trust(complex.origin));
  opaque.trust(trust(OPAQUE_AUDIENCE));
  flaky.trust(trust(flaky.origin));
  strict.trust(trust(strict.origin));
  refusing.trust(trust(refusing.origin));
});
afterAll(async () => {
  await svc?.stop();
  await Promise.all([complex, opaque, webhook, flaky, strict, refusing].map((r) => r?.close()));
  await rocket?.close();
});

const as = (role: Role) => ({ headers: bearer(svc.keys[role]), timeoutMs: 5_000 });
const newUser = () => `u-${randomBytes(6).toString("hex")}`;

/** The user a SET is about (complex: sub_id.user; opaque: sub_id.id). */
const userOf = (s: ReceivedSet) => s.claims.sub_id.user?.id ?? s.claims.sub_id.id;
const eventOf = (s: ReceivedSet) => s.claims.events[SESSION_REVOKED] as unknown as SessionRevokedEvent;

/** Accepted session-revoked SETs about `user` (each jti once). */
const setsFor = (r: SetReceiver, user: string) => r.revoked().filter((s) => userOf(s) === user);
/** The user of a raw hit's SET (complex subject), read without verifying. */
const hitUser = (h: Hit) => (decodeJwt(h.body)["sub_id"] as { user?: { id: string } } | undefined)?.user?.id;
const hooksFor = (user: string) => webhook.uniqueWebhooks().filter((w) => w.body.data.user_id === user);

/** Waits until each of the three always-healthy receivers holds `n` notices about `user`, then answers them. */
async function noticesFor(user: string, n: number): Promise<{ complex: ReceivedSet[]; opaque: ReceivedSet[]; hooks: ReceivedWebhook[] }> {
  await until(
    () => `${n} notices about ${user}: complex ${setsFor(complex, user).length}, opaque ${setsFor(opaque, user).length}, webhook ${hooksFor(user).length}; problems: ${[...complex.problems, ...opaque.problems, ...webhook.problems].join("; ")}`,
    () => setsFor(complex, user).length >= n && setsFor(opaque, user).length >= n && hooksFor(user).length >= n,
  );
  return { complex: setsFor(complex, user), opaque: setsFor(opaque, user), hooks: hooksFor(user) };
}

/** Nothing any receiver refused as malformed or unverifiable. */
function expectNoProblems(): void {
  for (const r of [complex, opaque, webhook, flaky, strict, refusing]) expect(r.problems).toEqual([]);
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

describe("discovery: /jwks.json and /.well-known/ssf-configuration", () => {
  it("are served without a key, and name this service as the issuer", async () => {
    const jwksRes = await fetch(`${svc.baseUrl}/jwks.json`);
    expect(jwksRes.status).toBe(200);
    expect(jwksRes.headers.get("content-type")).toMatch(/^application\/(jwk-set\+)?json/);
    const jwks = (await jwksRes.json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
    for (const k of jwks.keys) {
      expect(k).toMatchObject({ kid: expect.any(String), alg: expect.any(String), use: "sig" });
      // Public keys only.
      for (const priv of ["d", "p", "q", "dp", "dq", "qi"]) expect(k).not.toHaveProperty(priv);
    }

    const confRes = await fetch(`${svc.baseUrl}/.well-known/ssf-configuration`);
    expect(confRes.status).toBe(200);
    const conf = (await confRes.json()) as Record<string, unknown>;
    expect(conf).toMatchObject({
      spec_version: expect.any(String),
      issuer: svc.baseUrl,
      jwks_uri: `${svc.baseUrl}/jwks.json`,
      delivery_methods_supported: ["urn:ietf:rfc:8935"],
      configuration_endpoint: `${svc.baseUrl}/ssf/stream`,
      status_endpoint: `${svc.baseUrl}/ssf/status`,
      verification_endpoint: `${svc.baseUrl}/ssf/verify`,
    });
    expect(Array.isArray(conf["authorization_schemes"])).toBe(true);
  });
});

describe("every receiver hears of every ended session", () => {
  it("Terminate over the RPC by an admin, with a reason: one verified SET per receiver, complex and opaque subjects, and a signed webhook", async () => {
    const user = newUser();
    const created = await client.createSession({ userId: user, resourceOwner: "org-7" }, as("admin"));
    const requestId = randomUUID();
    const res = await client.terminate({ sessionId: created.sessionId, requestId, reason: "laptop stolen" }, as("admin"));
    expect(res.alreadyTerminated).toBe(false);
    const endedAt = timestampDate(res.details!.changeDate!);

    const got = await noticesFor(user, 1);
    const [c] = got.complex;
    expect(c!.claims.sub_id).toEqual({
      format: "complex",
      user: { format: "opaque", id: user },
      session: { format: "opaque", id: created.sessionId },
      tenant: { format: "opaque", id: "org-7" },
    });
    expect(c!.claims.iss).toBe(svc.baseUrl);
    expect([c!.claims.aud].flat()).toEqual([complex.origin]);
    expect(c!.claims.txn).toBe(requestId);
    expect(c!.header.typ).toBe("secevent+jwt");
    expect(Math.abs(eventOf(c!).event_timestamp - seconds(endedAt))).toBeLessThanOrEqual(1);
    expect(eventOf(c!).initiating_entity).toBe("admin");
    expect(eventOf(c!).reason_admin).toEqual({ en: "laptop stolen" });

    const [o] = got.opaque;
    expect(o!.claims.sub_id).toEqual({ format: "opaque", id: user });
    expect([o!.claims.aud].flat()).toEqual([OPAQUE_AUDIENCE]);
    expect(o!.claims.txn).toBe(requestId);
    expect(eventOf(o!)).toEqual(eventOf(c!));
    // The configured Authorization reached the receiver; each subscriber has its own jti.
    expect(o!.authorization).toBe(RECEIVER_AUTH);
    expect(c!.authorization).toBeUndefined();
    expect(o!.claims.jti).not.toBe(c!.claims.jti);

    const [h] = got.hooks;
    expect(h!.body.data).toMatchObject({
      user_id: user,
      session_id: created.sessionId,
      provider: res.provider,
      tenant: "org-7",
      initiating_entity: "admin",
      reason: "laptop stolen",
      txn: requestId,
    });
    expect(Math.abs(Date.parse(h!.body.data.ended_at) - endedAt.getTime())).toBeLessThan(1000);

    // Ending it again announces nothing new.
    const again = await client.terminate({ sessionId: created.sessionId, requestId: randomUUID() }, as("admin"));
    expect(again.alreadyTerminated).toBe(true);
    const marker = newUser();
    await client.terminate({ sessionId: (await client.createSession({ userId: marker }, as("admin"))).sessionId }, as("admin"));
    await noticesFor(marker, 1);
    expect(setsFor(complex, user)).toHaveLength(1);
    expect(hooksFor(user)).toHaveLength(1);
    expectNoProblems();
    // Secrets stay out of the logs.
    expect(svc.logText()).not.toContain(WEBHOOK_SECRET);
    expect(svc.logText()).not.toContain(RECEIVER_AUTH);
  });

  it("a session ended by its own user (own user id, or its own token) is initiated by the user; no reason, no reason_admin", async () => {
    const own = await client.createSession({ userId: "alice" }, as("admin"));
    const user = newUser();
    const byToken = await client.createSession({ userId: user }, as("admin"));
    const before = setsFor(complex, "alice").length;
    await client.terminate({ sessionId: own.sessionId }, as("alice"));
    await client.terminate({ sessionId: byToken.sessionId, sessionToken: byToken.sessionToken }, as("nobody"));

    const got = await noticesFor(user, 1);
    expect(eventOf(got.complex[0]!).initiating_entity).toBe("user");
    expect(eventOf(got.complex[0]!)).not.toHaveProperty("reason_admin");
    expect(got.hooks[0]!.body.data.initiating_entity).toBe("user");
    expect(got.hooks[0]!.body.data).not.toHaveProperty("reason");
    const alice = await until("alice's SET", () => setsFor(complex, "alice").find((s) => s.claims.sub_id.session?.id === own.sessionId));
    expect(setsFor(complex, "alice")).toHaveLength(before + 1);
    expect(eventOf(alice).initiating_entity).toBe("user");
    expectNoProblems();
  });

  it("an end is announced for the session's own user, never for a user id the caller only claimed", async () => {
    const user = newUser();
    const victim = newUser();
    const s = await client.createSession({ userId: user }, as("admin"));
    await client.terminate({ sessionId: s.sessionId, sessionToken: s.sessionToken, userId: victim }, as("nobody"));
    const got = await noticesFor(user, 1);
    expect(got.complex[0]!.claims.sub_id.session?.id).toBe(s.sessionId);
    expect(got.hooks[0]!.body.data.session_id).toBe(s.sessionId);
    expect(setsFor(complex, victim)).toHaveLength(0);
    expectNoProblems();
  });

  it("Zitadel's REST DeleteSession and its gRPC DeleteSession announce the end too", async () => {
    const user = newUser();
    const viaRest = await client.createSession({ userId: user, resourceOwner: "org-rest" }, as("admin"));
    const viaGrpc = await client.createSession({ userId: user, resourceOwner: "org-rest" }, as("admin"));
    const rest = await fetch(`${svc.baseUrl}/v2/sessions/${viaRest.sessionId}`, {
      method: "DELETE",
      headers: { "content-type": "application/json", accept: "application/json", ...bearer(svc.keys.nobody) },
      body: JSON.stringify({ sessionToken: viaRest.sessionToken }),
    });
    expect(rest.status).toBe(200);
    const zitadel = createSessionServiceClient(createServerTransport(svc.keys.admin, { baseUrl: svc.baseUrl }));
    await zitadel.deleteSession({ sessionId: viaGrpc.sessionId });

    const got = await noticesFor(user, 2);
    const bySession = new Map(got.complex.map((s) => [s.claims.sub_id.session?.id, eventOf(s).initiating_entity]));
    expect(bySession).toEqual(new Map([[viaRest.sessionId, "user"], [viaGrpc.sessionId, "admin"]]));
    expect(got.complex.every((s) => s.claims.sub_id.tenant?.id === "org-rest")).toBe(true);
    expect(got.opaque).toHaveLength(2);
    expect(got.hooks.map((h) => h.body.data.session_id).sort()).toEqual([viaRest.sessionId, viaGrpc.sessionId].sort());
    expectNoProblems();
  });

  it("TerminateUser over the embedded store and an upstream: one SET per ended session with the operation id as txn, then one for the user as a whole", async () => {
    const user = newUser();
    const local = [await client.createSession({ userId: user }, as("admin")), await client.createSession({ userId: user }, as("admin"))].map((s) => s.sessionId);
    const chat = ["a", "b", "c"].map((x) => `rc-${user}-${x}`);
    for (const sessionId of chat) rocket.addSession({ sessionId, userId: user, loginToken: `lt-${sessionId}` });

    const started = await client.terminateUser({ userId: user, reason: "account compromised" }, as("admin"));
    const op = await operationDone(client, started.operation!.id, as("reader").headers);
    const ended = [...local, ...chat].sort();
    expect(op.providers.reduce((n, p) => n + p.sessionsEnded, 0)).toBe(ended.length);

    // One per session, and one for the user.
    const got = await noticesFor(user, ended.length + 1);
    for (const sets of [got.complex, got.opaque]) {
      expect(sets).toHaveLength(ended.length + 1);
      for (const s of sets) {
        expect(s.claims.txn).toBe(op.id);
        expect(eventOf(s).initiating_entity).toBe("admin");
        expect(eventOf(s).reason_admin).toEqual({ en: "account compromised" });
      }
    }
    expect(got.complex.map((s) => s.claims.sub_id.session?.id ?? "(user)").sort()).toEqual([...ended, "(user)"].sort());
    const whole = got.complex.find((s) => s.claims.sub_id.session === undefined)!;
    expect(whole.claims.sub_id.user).toEqual({ format: "opaque", id: user });
    for (const s of got.opaque) expect(s.claims.sub_id).toEqual({ format: "opaque", id: user });

    expect(got.hooks.map((h) => h.body.data.session_id ?? "(user)").sort()).toEqual([...ended, "(user)"].sort());
    for (const h of got.hooks) expect(h.body.data).toMatchObject({ txn: op.id, initiating_entity: "admin", reason: "account compromised" });
    const providers = new Map(got.hooks.filter((h) => h.body.data.session_id).map((h) => [h.body.data.session_id, h.body.data.provider]));
    for (const id of local) expect(providers.get(id)).toBe("local");
    for (const id of chat) expect(providers.get(id)).toBe("chat");
    expectNoProblems();
  });
});

describe("delivery outcomes", () => {
  it("a receiver that is down for a while, then answers 503, then 202, receives everything, with the same jti on every retry", async () => {
    await flaky.down();
    const user = newUser();
    const sessions: string[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await client.createSession({ userId: user }, as("admin"));
      await client.terminate({ sessionId: s.sessionId }, as("admin"));
      sessions.push(s.sessionId);
    }
    // The healthy receivers have theirs; the down one is not holding them up.
    await noticesFor(user, 3);
    // Its deliveries failed more than once while it was down (connection refused), and stay pending.
    await until("flaky's deliveries to have failed twice each", async () => {
      const pending = (await listDeliveries(svc.baseUrl, svc.keys.reader, { receiver: "receiver:flaky", state: "pending" })).filter((d) => d.userId === user);
      return pending.length === 3 && pending.every((d) => d.attempts >= 2 && d.lastError !== undefined);
    });

    // Back, but failing: retries come with their jti.
    flaky.answer = { status: 503 };
    await flaky.up();
    const refused = await until("a 503'd attempt of each of the 3", () => {
      const ids = new Set(flaky.hits.filter((h) => h.status === 503 && hitUser(h) === user).map((h) => h.id));
      return ids.size === 3 && ids;
    });
    flaky.answer = { status: 202 };
    await until(() => `flaky to accept the 3 (has ${setsFor(flaky, user).length})`, () => setsFor(flaky, user).length === 3);

    const accepted = setsFor(flaky, user);
    expect(new Set(accepted.map((s) => s.claims.jti))).toEqual(refused);
    expect(accepted.map((s) => s.claims.sub_id.session?.id).sort()).toEqual([...sessions].sort());
    // Each was tried more than once, always with its one jti.
    for (const jti of refused) expect(flaky.hitsOf(jti).length).toBeGreaterThanOrEqual(2);
    await until("the deliveries to show delivered", async () => {
      const mine = (await listDeliveries(svc.baseUrl, svc.keys.reader, { receiver: "receiver:flaky" })).filter((d) => d.userId === user);
      return mine.length === 3 && mine.every((d) => d.state === "delivered" && refused.has(d.jti));
    });
    expectNoProblems();
  });

  it("a request that hangs holds up none of the receiver's other deliveries; after its timeout it is retried with its jti", async () => {
    const user = newUser();
    let held = "";
    flaky.answer = (h) => (held === "" && hitUser(h) === user ? ((held = h.id), "hang") : h.id === held ? "hang" : { status: 202 });
    await client.terminate({ sessionId: (await client.createSession({ userId: user }, as("admin"))).sessionId }, as("admin"));
    await until("the first request, held", () => flaky.holding() === 1);

    // Two more ends while it hangs: they go at once (concurrency_per_receiver), not after its timeout.
    const later: string[] = [];
    for (let i = 0; i < 2; i++) {
      const s = await client.createSession({ userId: user }, as("admin"));
      await client.terminate({ sessionId: s.sessionId }, as("admin"));
      later.push(s.sessionId);
    }
    await until(() => `the later two at flaky (has ${setsFor(flaky, user).length})`, () => setsFor(flaky, user).length === 2);
    expect(setsFor(flaky, user).map((s) => s.claims.sub_id.session?.id).sort()).toEqual(later.sort());
    expect(flaky.holding()).toBe(1);
    expect(flaky.hitsOf(held)).toHaveLength(1);

    // Let it through: the attempt times out (request_timeout_ms) and the retry, with the same jti, is accepted.
    flaky.answer = { status: 202 };
    await until("the held one, retried and accepted", () => setsFor(flaky, user).length === 3);
    expect(setsFor(flaky, user).map((s) => s.claims.jti)).toContain(held);
    expect(flaky.hitsOf(held).length).toBeGreaterThanOrEqual(2);
    expectNoProblems();
  });

  it("a receiver answering 400 {err, description} is recorded as failed with its err, and not retried", async () => {
    const user = newUser();
    const first = await client.createSession({ userId: user }, as("admin"));
    await client.terminate({ sessionId: first.sessionId }, as("admin"));
    const hit = await until("strict's hit", () => strict.hits.find((h) => hitUser(h) === user));
    expect(hit.status).toBe(400);
    const failed = await until("the delivery recorded as failed", async () =>
      (await listDeliveries(svc.baseUrl, svc.keys.reader, { receiver: "receiver:strict", state: "failed" })).find((d) => d.jti === hit.id),
    );
    expect(failed).toMatchObject({ receiver: "receiver:strict", state: "failed", attempts: 1, lastError: { httpStatus: 400, err: "invalid_audience" } });

    // More ends go out to every receiver (strict included); the failed one was not sent again.
    const later = newUser();
    for (let i = 0; i < 3; i++) await client.terminate({ sessionId: (await client.createSession({ userId: later }, as("admin"))).sessionId }, as("admin"));
    await noticesFor(later, 3);
    await until("strict to have been sent the later three", () => strict.hits.filter((h) => hitUser(h) === later).length === 3);
    expect(strict.hitsOf(hit.id)).toHaveLength(1);
    const again = await listDeliveries(svc.baseUrl, svc.keys.reader, { receiver: "receiver:strict" });
    expect(again.find((d) => d.jti === hit.id)).toMatchObject({ state: "failed", attempts: 1 });
    expectNoProblems();
  });

  it("a receiver answering 401 is recorded as refusing our credentials and kept pending, not retried with the fast backoff", async () => {
    const user = newUser();
    await client.terminate({ sessionId: (await client.createSession({ userId: user }, as("admin"))).sessionId }, as("admin"));
    const hit = await until("refusing's hit", () => refusing.hits.find((h) => hitUser(h) === user));
    expect(hit.status).toBe(401);
    const pending = await until("the delivery recorded with its 401", async () =>
      (await listDeliveries(svc.baseUrl, svc.keys.reader, { receiver: "receiver:refusing" })).find((d) => d.jti === hit.id && d.lastError?.httpStatus === 401),
    );
    expect(pending).toMatchObject({ state: "pending", attempts: 1 });

    const later = newUser();
    for (let i = 0; i < 3; i++) await client.terminate({ sessionId: (await client.createSession({ userId: later }, as("admin"))).sessionId }, as("admin"));
    await noticesFor(later, 3);
    await until("refusing to have been sent the later three", () => refusing.hits.filter((h) => hitUser(h) === later).length === 3);
    expect(refusing.hitsOf(hit.id)).toHaveLength(1);
    expectNoProblems();
  });
});
