import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { DeleteSessionRequest, ListSessionsRequest } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl, type Operation, type ProviderProgress } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { newApiKey } from "../../src/auth/admin-key.js";
import { sha256Hex } from "../../src/auth/api-keys.js";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { startService } from "../../src/main.js";
import { base32Decode, totp } from "../../src/auth/totp.js";
import { SqliteStores } from "../../src/store/sqlite.js";
import { FakeLuckyMonaco, SUCCESS } from "../fakes/luckymonaco.js";
import { FakeRocketChat } from "../fakes/rocketchat.js";
import { FakeSenhasegura, type RemoteSession } from "../fakes/senhasegura.js";
import { FakeZitadel } from "../fakes/zitadel.js";
import { keepErrorTexts } from "../helpers/errors.js";
import { operationDone } from "../helpers/operations.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";
import { nextMillisecond, sleep, until } from "../helpers/wait.js";

// Credentials of our service at each upstream: unique, so that a leak would be found.
const RC_USER = "rc-admin-user";
const RC_TOKEN = `rc-token-${randomUUID()}`;
/** Our configured Rocket.Chat TOTP secret: every call needs its current code. */
const RC_TOTP_SECRET = "KRUGS4ZANFZSA3TPOQQGCIDSMVQWYIDTMVRXEZLU";
const RC_TOTP_KEY = base32Decode(RC_TOTP_SECRET)!;
const SS_CLIENT = "session-control-a2a";
const SS_SECRET = `ss-secret-${randomUUID()}`;
const ZITADEL_PAT = `zitadel-pat-${randomUUID()}`;
const LM_TOKEN = `lm-token-${randomUUID()}`;
const SS_DROP_SUCCESS = JSON.stringify({ code: 200, response: { status: 200, message: "Sessão interrompida com sucesso", error: false, error_code: 0, detail: "", mensagem: "Sessão interrompida com sucesso", erro: false, cod_erro: 0 } });

const PROVIDERS = ["local", "casino", "chat", "vault", "idp"] as const;
type ProviderName = (typeof PROVIDERS)[number];

/** The upstream ends of Zitadel calls are this slow (ms), for one test; 0 otherwise. */
let zitadelDelay = { list: 0, remove: 0 };
/** Zitadel DeleteSession calls in flight now, and the most seen at once. */
let zitadelInFlight = 0;
let zitadelMaxInFlight = 0;
/** Sessions the Zitadel fake holds: id -> user id. */
const zitadelSessions = new Map<string, string>();

let rocket: FakeRocketChat;
let vaultFake: FakeSenhasegura;
let vaultGate: TcpGate;
let casino: FakeLuckyMonaco;
let zitadel: FakeZitadel;
let svc: TestService;
let client: Client<typeof SessionControl>;
const { failure, texts: errorTexts } = keepErrorTexts();

beforeAll(async () => {
  rocket = await FakeRocketChat.start();
  vaultFake = await FakeSenhasegura.start({ clientId: SS_CLIENT, clientSecret: SS_SECRET, dropSuccess: SS_DROP_SUCCESS });
  vaultGate = await TcpGate.open(Number(new URL(vaultFake.url).port));
  casino = await FakeLuckyMonaco.start();
  zitadel = await FakeZitadel.start();
  process.env["TU_RC_TOKEN"] = RC_TOKEN;
  process.env["TU_RC_TOTP"] = RC_TOTP_SECRET;
  process.env["TU_SS_SECRET"] = SS_SECRET;
  process.env["TU_ZITADEL_PAT"] = ZITADEL_PAT;
  process.env["TU_LM_TOKEN"] = LM_TOKEN;
  // One attempt per call and a breaker that never opens: each failure goes to the operation's own retries.
  const common = { max_attempts: 1, breaker_failures: 1000, timeout_ms: 5000 };
  svc = await startTestService({}, {
    providers: [
      { name: "local", type: "local" },
      { name: "casino", type: "luckymonaco", base_url: casino.url, secure_login: "partner-7", token: "env:TU_LM_TOKEN", ...common },
      { name: "chat", type: "rocketchat", base_url: rocket.url, user_id: RC_USER, auth_token: "env:TU_RC_TOKEN", totp_secret: "env:TU_RC_TOTP", ...common },
      { name: "vault", type: "senhasegura", base_url: vaultGate.url, client_id: SS_CLIENT, client_secret: "env:TU_SS_SECRET", ...common },
      { name: "idp", type: "zitadel", base_url: zitadel.url, token: "env:TU_ZITADEL_PAT", ...common },
    ],
    operations: { poll_ms: 50, lease_ms: 5000, retry_initial_ms: 100, retry_max_ms: 300, concurrency_per_provider: 2, call_timeout_ms: 4000, max_age_ms: 120_000 },
  });
  client = grpcClient(svc);
});
afterAll(async () => {
  await svc?.stop();
  await Promise.all([rocket?.close(), vaultFake?.close(), vaultGate?.close(), casino?.close(), zitadel?.stop()]);
});
beforeEach(() => {
  // The Rocket.Chat workspace as our configured user sees it: our token, and the second factor from our secret.
  const sessions = [...rocket.sessions.values()];
  rocket.reset({ userId: RC_USER, authToken: RC_TOKEN, acceptsCode: (c) => [0, -30_000].some((d) => totp(RC_TOTP_KEY, Date.now() + d) === c) });
  for (const s of sessions) rocket.addSession(s);
  casino.answerAlways(SUCCESS);
  zitadelDelay = { list: 0, remove: 0 };
  zitadelInFlight = 0;
  zitadelMaxInFlight = 0;
  zitadel.reset();
  installZitadel();
});

const as = (role: Role, extra: Record<string, string> = {}) => ({ headers: { ...bearer(svc.keys[role]), ...extra } });

/** The user a ListSessions call asked for. */
function zitadelListedUser(req: ListSessionsRequest): string {
  const q = req.queries.find((x) => x.query.case === "userIdQuery")?.query;
  return q?.case === "userIdQuery" ? q.value.id : "";
}

/** A stateful Zitadel: ListSessions answers the user's sessions, DeleteSession removes one. */
function installZitadel(): void {
  zitadel.listSessions = (req: ListSessionsRequest) => {
    const userId = zitadelListedUser(req);
    const sessions = [...zitadelSessions].filter(([, u]) => u === userId).map(([id, u]) => ({ id, factors: { user: { id: u } } }));
    return { delayMs: zitadelDelay.list, response: { sessions, details: { totalResult: BigInt(sessions.length) } } };
  };
  zitadel.deleteSession = (req) => {
    zitadelInFlight++;
    zitadelMaxInFlight = Math.max(zitadelMaxInFlight, zitadelInFlight);
    setTimeout(() => zitadelInFlight--, zitadelDelay.remove);
    if (!zitadelSessions.delete(req.sessionId)) return { delayMs: zitadelDelay.remove, error: { code: Code.NotFound, message: "Errors.Session.NotFound (QUERY-1n8sa)" } };
    return { delayMs: zitadelDelay.remove, response: { details: { sequence: 7n, changeDate: timestampFromDate(new Date()), resourceOwner: "org-1" } } };
  };
}

/** What one user holds in each provider: session ids (casino: the player's sessions, ended as one). */
interface Held {
  user: string;
  local: string[];
  chat: string[];
  vault: string[];
  idp: string[];
}

const hash = () => randomBytes(16).toString("hex");

/**
 * Gives `user` sessions in every system (the ids it has there may differ), and around them
 * sessions that are not to be ended: other users', and ones already over.
 */
async function seedUser(user: string, counts = { local: 2, chat: 3, vault: 2, idp: 2 }, ids: Partial<Record<ProviderName, string>> = {}): Promise<Held> {
  const held: Held = { user, local: [], chat: [], vault: [], idp: [] };
  for (let i = 0; i < counts.local; i++) held.local.push((await client.createSession({ userId: user }, as("admin"))).sessionId);
  await client.createSession({ userId: `${user}-other` }, as("admin"));

  const chatUser = ids.chat ?? user;
  for (let i = 0; i < counts.chat; i++) {
    const sessionId = `rc-${hash()}`;
    rocket.addSession({ sessionId, userId: chatUser, loginToken: `lt-${i}`, device: { name: "laptop" } });
    held.chat.push(sessionId);
  }
  // Found by the upstream's substring filter, but not the user's: never ended.
  rocket.addSession({ sessionId: `rc-${chatUser}-x`, userId: `${chatUser}-other`, loginToken: "lt-other" });
  // The user's, logged out already: not listed.
  rocket.addSession({ sessionId: `rc-${hash()}`, userId: chatUser, logoutAt: new Date().toISOString() });

  const vaultUser = ids.vault ?? user;
  for (let i = 0; i < counts.vault; i++) {
    const sessionId = hash();
    vaultFake.sessions.push(remoteSession(vaultUser, sessionId, null));
    held.vault.push(sessionId);
  }
  vaultFake.sessions.push(remoteSession(vaultUser, hash(), "2025-03-01 10:00:00"));
  vaultFake.sessions.push(remoteSession(`${vaultUser}-other`, hash(), null));

  const idpUser = ids.idp ?? user;
  for (let i = 0; i < counts.idp; i++) {
    const id = `z${hash()}`;
    zitadelSessions.set(id, idpUser);
    held.idp.push(id);
  }
  zitadelSessions.set(`z${hash()}`, `${idpUser}-other`);
  return held;
}

function remoteSession(user: string, sessionId: string, end: string | null): RemoteSession {
  return { id: String(vaultFake.sessions.length + 1), user, origin_ip: "10.1.2.3", credential: "svc-db", device: "10.9.8.7:22", protocol: "ssh", proxy: "Web Proxy", session_id: sessionId, start: "2025-03-01 09:00:00", end, time: null, prevent_purge: "No", request: null, ITSM: null };
}

/** Upstream calls that end one of these sessions (casino: calls that close the player's sessions). */
function endCalls(held: Held, casinoUser = held.user) {
  return {
    chat: rocket.requests.filter((r) => r.pathname === "/api/v1/sessions/logout").map((r) => (r.body as { sessionId: string }).sessionId).filter((id) => held.chat.includes(id)),
    vault: vaultFake.apiRequests.filter((r) => r.method === "DELETE").map((r) => r.path.split("/").pop()!).filter((id) => held.vault.includes(id)),
    idp: zitadel.callsOf("DeleteSession").map((c) => (c.request as DeleteSessionRequest).sessionId).filter((id) => held.idp.includes(id)),
    casino: casino.requests.filter((r) => (r.body as { userId?: string }).userId === casinoUser).length,
  };
}

/** Every upstream request so far, in all fakes. */
const upstreamRequests = () => rocket.requests.length + vaultFake.requests.length + casino.requests.length + zitadel.calls.length;

function progress(op: Operation | undefined, provider: string): ProviderProgress {
  const p = op?.providers.find((x) => x.provider === provider);
  if (!p) throw new Error(`no progress for ${provider} in ${JSON.stringify(op?.providers.map((x) => x.provider))}`);
  return p;
}

/** The counts of a provider's progress, without the failures. */
const counts = (p: ProviderProgress) => ({ listed: p.listed, ended: p.sessionsEnded, alreadyEnded: p.sessionsAlreadyEnded, pending: p.sessionsPending });

const untilDone = (id: string) => operationDone(client, id, as("reader").headers);

describe("TerminateUser: every provider succeeds", () => {
  it("ends each session once in every provider, reports the counts per provider, and audits each end with the operation id", async () => {
    const held = await seedUser(`u-${hash()}`);
    const before = Date.now();
    const { operation: op } = await client.terminateUser({ userId: held.user, reason: "account compromised" }, as("admin"));

    expect(op?.done).toBe(true);
    expect(op?.userId).toBe(held.user);
    expect(op?.reason).toBe("account compromised");
    expect(op?.principal).toBe("admin");
    expect(op?.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(timestampDate(op!.createTime!).getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(timestampDate(op!.expireTime!).getTime() - timestampDate(op!.createTime!).getTime()).toBeGreaterThan(110_000);
    expect(op!.providers.map((p) => p.provider).sort()).toEqual([...PROVIDERS].sort());
    expect(counts(progress(op, "local"))).toEqual({ listed: true, ended: 2, alreadyEnded: 0, pending: 0 });
    expect(counts(progress(op, "chat"))).toEqual({ listed: true, ended: 3, alreadyEnded: 0, pending: 0 });
    expect(counts(progress(op, "vault"))).toEqual({ listed: true, ended: 2, alreadyEnded: 0, pending: 0 });
    expect(counts(progress(op, "idp"))).toEqual({ listed: true, ended: 2, alreadyEnded: 0, pending: 0 });
    // LuckyMonaco lists nothing: the player's sessions are one unit, closed in one call.
    expect(counts(progress(op, "casino"))).toEqual({ listed: true, ended: 1, alreadyEnded: 0, pending: 0 });
    for (const p of op!.providers) {
      expect(p.failures).toEqual([]);
      expect(p.providerUserId).toBe(held.user);
    }

    // Upstream: exactly one end call per session, none for anybody else's.
    const calls = endCalls(held);
    expect(calls.chat.sort()).toEqual([...held.chat].sort());
    expect(calls.vault.sort()).toEqual([...held.vault].sort());
    expect(calls.idp.sort()).toEqual([...held.idp].sort());
    expect(calls.casino).toBe(1);
    expect(rocket.requests.filter((r) => r.pathname === "/api/v1/sessions/logout" && !held.chat.includes((r.body as { sessionId: string }).sessionId))).toEqual([]);
    // Each Rocket.Chat call carried the code of our configured secret.
    for (const r of rocket.requests) expect(r.headers["x-2fa-method"]).toBe("totp");
    expect([...rocket.sessions.values()].filter((s) => s.userId === held.user && s.loginToken)).toEqual([]);
    expect([...rocket.sessions.values()].filter((s) => s.userId === `${held.user}-other`).every((s) => s.loginToken)).toBe(true);
    expect(vaultFake.sessions.filter((s) => s.user === held.user && s.end === null)).toEqual([]);
    expect(vaultFake.sessions.filter((s) => s.user === `${held.user}-other` && s.end === null)).toHaveLength(1);
    expect([...zitadelSessions.values()].filter((u) => u === held.user)).toEqual([]);
    expect([...zitadelSessions.values()].filter((u) => u === `${held.user}-other`)).toHaveLength(1);

    // Local: the user's sessions are ended, the other user's is not.
    const local = await client.listSessions({ userId: held.user }, as("admin"));
    expect(local.sessions.map((s) => [s.id, s.termination?.terminatedBy, s.termination?.reason])).toEqual(
      expect.arrayContaining(held.local.map((id) => [id, "admin", "account compromised"])),
    );
    const other = await client.listSessions({ userId: `${held.user}-other` }, as("admin"));
    expect(other.sessions.every((s) => s.termination === undefined)).toBe(true);

    // Audit: one OK event per ended session, each with the operation id.
    const { events } = await client.listEvents({ userId: held.user, pageSize: 1000 }, as("reader"));
    const ended = (provider: string) => events.filter((e) => e.provider === provider).map((e) => e.sessionId).sort();
    expect(ended("local")).toEqual([...held.local].sort());
    expect(ended("chat")).toEqual([...held.chat].sort());
    expect(ended("vault")).toEqual([...held.vault].sort());
    expect(ended("idp")).toEqual([...held.idp].sort());
    expect(ended("casino")).toEqual([held.user]);
    expect(events).toHaveLength(2 + 3 + 2 + 2 + 1);
    for (const e of events) {
      expect(e.operationId).toBe(op!.id);
      expect(e.code).toBe("OK");
      expect(e.principal).toBe("admin");
      expect(e.reason).toBe("account compromised");
      expect(e.alreadyTerminated).toBe(false);
    }
    // Each session's end had its own request id.
    expect(new Set(events.map((e) => e.requestId)).size).toBe(events.length);

    // GetOperation shows the same operation.
    const got = await client.getOperation({ id: op!.id }, as("reader"));
    expect(got.operation).toEqual(op);
  });

  it("ends a provider's sessions with bounded concurrency (operations.concurrency_per_provider = 2)", async () => {
    const held = await seedUser(`u-${hash()}`, { local: 0, chat: 0, vault: 0, idp: 6 });
    zitadelDelay = { list: 0, remove: 80 };
    const { operation } = await client.terminateUser({ userId: held.user, providers: ["idp"] }, as("admin"));
    expect(operation?.done).toBe(true);
    expect(counts(progress(operation, "idp"))).toEqual({ listed: true, ended: 6, alreadyEnded: 0, pending: 0 });
    expect(zitadelMaxInFlight).toBe(2);
    expect(endCalls(held).idp).toHaveLength(6);
  });

  it("uses provider_user_ids: each provider gets the user's id in that system", async () => {
    const user = `u-${hash()}`;
    const ids = { chat: `RC${hash().slice(0, 12)}`, vault: `pam.${hash().slice(0, 8)}`, idp: `${BigInt("0x" + hash().slice(0, 12))}`, casino: `player-${hash().slice(0, 8)}` };
    const held = await seedUser(user, { local: 1, chat: 2, vault: 1, idp: 2 }, ids);
    const { operation: op } = await client.terminateUser({ userId: user, providerUserIds: ids }, as("admin"));

    expect(op?.done).toBe(true);
    expect(progress(op, "local").providerUserId).toBe(user);
    for (const [provider, id] of Object.entries(ids)) expect(progress(op, provider).providerUserId).toBe(id);
    expect(counts(progress(op, "chat"))).toMatchObject({ ended: 2 });
    expect(counts(progress(op, "vault"))).toMatchObject({ ended: 1 });
    expect(counts(progress(op, "idp"))).toMatchObject({ ended: 2 });
    expect(counts(progress(op, "local"))).toMatchObject({ ended: 1 });
    expect(counts(progress(op, "casino"))).toMatchObject({ ended: 1 });

    // The fakes saw the provider's own ids, and never ours.
    const listings = rocket.requests.filter((r) => r.pathname === "/api/v1/sessions/list.all");
    expect(listings.some((r) => r.query.get("filter") === ids.chat)).toBe(true);
    expect(listings.some((r) => r.query.get("filter") === user)).toBe(false);
    const zitadelUsers = zitadel.callsOf("ListSessions").map((c) => zitadelListedUser(c.request as ListSessionsRequest));
    expect(zitadelUsers).toContain(ids.idp);
    expect(zitadelUsers).not.toContain(user);
    expect(casino.requests.filter((r) => (r.body as { userId?: string }).userId === ids.casino)).toHaveLength(1);
    expect(casino.requests.filter((r) => (r.body as { userId?: string }).userId === user)).toHaveLength(0);
    const calls = endCalls(held, ids.casino);
    expect(calls.chat.sort()).toEqual([...held.chat].sort());
    expect(calls.vault).toEqual(held.vault);
    expect(calls.idp.sort()).toEqual([...held.idp].sort());
    expect(calls.casino).toBe(1);
  });

  it("restricts the fan-out to the named providers", async () => {
    const held = await seedUser(`u-${hash()}`);
    const before = upstreamRequests();
    const rcBefore = rocket.requests.length;
    const casinoBefore = casino.requests.length;
    const { operation: op } = await client.terminateUser({ userId: held.user, providers: ["idp", "vault", "idp"] }, as("admin"));

    expect(op?.done).toBe(true);
    expect(op!.providers.map((p) => p.provider).sort()).toEqual(["idp", "vault"]);
    expect(counts(progress(op, "idp"))).toMatchObject({ ended: 2 });
    expect(counts(progress(op, "vault"))).toMatchObject({ ended: 2 });
    expect(rocket.requests.length).toBe(rcBefore);
    expect(casino.requests.length).toBe(casinoBefore);
    expect(upstreamRequests()).toBeGreaterThan(before);
    // The local sessions were not touched.
    const local = await client.listSessions({ userId: held.user }, as("admin"));
    expect(local.sessions.filter((s) => s.termination)).toEqual([]);
    expect([...rocket.sessions.values()].filter((s) => held.chat.includes(s.sessionId) && s.loginToken)).toHaveLength(3);
  });

  it("refuses unknown provider names, in providers and in provider_user_ids, before recording anything", async () => {
    const user = `u-${hash()}`;
    const before = upstreamRequests();
    for (const req of [
      { userId: user, providers: ["idp", "nope"] },
      { userId: user, providerUserIds: { nope: "x" } },
    ]) {
      const err = await failure(client.terminateUser(req, as("admin")));
      expect(err.code).toBe(Code.InvalidArgument);
      const violations = err.findDetails(BadRequestSchema)[0]?.fieldViolations ?? [];
      expect(violations).toHaveLength(1);
      expect(violations[0]!.field).toBe("providers");
      expect(violations[0]!.description).toContain('unknown provider "nope"');
    }
    for (const [req, field] of [
      [{ userId: "" }, "user_id"],
      [{ userId: user, requestId: "not-a-uuid" }, "request_id"],
      [{ userId: user, providerUserIds: { idp: "" } }, 'provider_user_ids["idp"]'],
    ] as const) {
      const err = await failure(client.terminateUser(req, as("admin")));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual([field]);
    }
    expect(upstreamRequests()).toBe(before);
    expect((await client.listOperations({ userId: user }, as("reader"))).operations).toEqual([]);
  });
});

describe("TerminateUser: partial failure and background retries", () => {
  it("reports a provider that is down (connection refused) under that provider, finishes the others, and retries it until it comes back", async () => {
    const held = await seedUser(`u-${hash()}`);
    await vaultGate.shut();
    let op: Operation | undefined;
    try {
      ({ operation: op } = await client.terminateUser({ userId: held.user }, as("admin")));
      expect(op?.done).toBe(false);
      for (const name of ["local", "chat", "idp", "casino"]) {
        expect(progress(op, name).failures).toEqual([]);
        expect(progress(op, name).sessionsPending).toBe(0);
      }
      expect(counts(progress(op, "chat"))).toMatchObject({ ended: 3 });
      expect(counts(progress(op, "idp"))).toMatchObject({ ended: 2 });
      const vault = progress(op, "vault");
      expect(counts(vault)).toEqual({ listed: false, ended: 0, alreadyEnded: 0, pending: 0 });
      expect(vault.failures).toHaveLength(1);
      expect(vault.failures[0]).toMatchObject({ sessionId: "", code: "UNAVAILABLE", reason: "UPSTREAM_UNREACHABLE", retrying: true });
      expect(vault.failures[0]!.attempts).toBeGreaterThanOrEqual(1);
      expect(vault.failures[0]!.message).not.toContain(SS_SECRET);

      // Still down a while later: still retrying, with more attempts, never done.
      const later = await until("another attempt at the provider that is down", async () => {
        const { operation } = await client.getOperation({ id: op!.id }, as("reader"));
        return progress(operation, "vault").failures[0]!.attempts > vault.failures[0]!.attempts ? operation : undefined;
      });
      expect(later?.done).toBe(false);
      expect(progress(later, "vault").failures[0]).toMatchObject({ code: "UNAVAILABLE", retrying: true });
      const listed = await client.listOperations({ userId: held.user }, as("reader"));
      expect(listed.operations.map((o) => [o.id, o.done])).toEqual([[op!.id, false]]);
    } finally {
      await vaultGate.reopen();
    }

    const done = await untilDone(op!.id);
    expect(counts(progress(done, "vault"))).toEqual({ listed: true, ended: 2, alreadyEnded: 0, pending: 0 });
    expect(progress(done, "vault").failures).toEqual([]);
    expect(counts(progress(done, "chat"))).toMatchObject({ ended: 3 });
    expect(endCalls(held).vault.sort()).toEqual([...held.vault].sort());
    expect(endCalls(held).chat.sort()).toEqual([...held.chat].sort());
    expect(vaultFake.sessions.filter((s) => s.user === held.user && s.end === null)).toEqual([]);
  });

  it("retries a provider answering 503 while ending, then finishes with the right count", async () => {
    const held = await seedUser(`u-${hash()}`, { local: 1, chat: 1, vault: 1, idp: 1 });
    casino.answerAlways({ status: 503, raw: "Service Unavailable" });
    const { operation: op } = await client.terminateUser({ userId: held.user }, as("admin"));
    expect(op?.done).toBe(false);
    const c = progress(op, "casino");
    expect(counts(c)).toEqual({ listed: true, ended: 0, alreadyEnded: 0, pending: 1 });
    expect(c.failures).toHaveLength(1);
    expect(c.failures[0]).toMatchObject({ sessionId: held.user, code: "UNAVAILABLE", reason: "UPSTREAM_UNAVAILABLE", retrying: true });
    for (const name of ["local", "chat", "vault", "idp"]) expect(counts(progress(op, name))).toMatchObject({ ended: 1, pending: 0 });

    const failedCalls = await until("a retry of the end call answered 503", () => endCalls(held).casino >= 2 && endCalls(held).casino);
    expect(failedCalls).toBeGreaterThanOrEqual(2);
    casino.answerAlways(SUCCESS);
    const done = await untilDone(op!.id);
    expect(counts(progress(done, "casino"))).toEqual({ listed: true, ended: 1, alreadyEnded: 0, pending: 0 });
    expect(progress(done, "casino").failures).toEqual([]);
    // Every attempt was the same request (the same uuid), and the first success was the last call.
    const bodies = casino.requests.filter((r) => (r.body as { userId?: string }).userId === held.user).map((r) => r.body as { uuid: string });
    expect(new Set(bodies.map((b) => b.uuid)).size).toBe(1);
    expect(bodies.length).toBe(endCalls(held).casino);
    // A window in which no further call may come (the absence of calls cannot be polled for).
    await sleep(200);
    expect(endCalls(held).casino).toBe(bodies.length);
    // The audit trail has the failed attempts and the success, all of the operation.
    const { events } = await client.listEvents({ userId: held.user, provider: "casino" }, as("reader"));
    expect(events.map((e) => e.code)).toEqual(["OK", ...Array<string>(events.length - 1).fill("UNAVAILABLE")]);
    expect(events.every((e) => e.operationId === op!.id)).toBe(true);
    expect(events.filter((e) => e.code === "UNAVAILABLE").every((e) => e.errorReason === "UPSTREAM_UNAVAILABLE")).toBe(true);
  });

  it("answers by the caller's deadline when a provider is slow, with done = false, and finishes the work in the background", async () => {
    const held = await seedUser(`u-${hash()}`, { local: 1, chat: 1, vault: 1, idp: 3 });
    // The service answers a quarter of the deadline early (2250 ms): the listing (3100 ms) is still running
    // then, and ends well inside operations.call_timeout_ms (4 s) and the providers' timeout_ms (5 s). A deadline of 3 s leaves the answer 750 ms
    // to reach the client on a loaded machine (at 500 ms, it had 125 ms, and missed them under load).
    const DEADLINE_MS = 3000;
    zitadelDelay = { list: 3100, remove: 300 };
    const started = Date.now();
    const { operation: op } = await client.terminateUser({ userId: held.user }, { ...as("admin"), timeoutMs: DEADLINE_MS });
    const took = Date.now() - started;

    expect(took).toBeLessThan(DEADLINE_MS);
    expect(took).toBeGreaterThanOrEqual(DEADLINE_MS * 0.75);
    expect(op?.done).toBe(false);
    expect(counts(progress(op, "idp"))).toEqual({ listed: false, ended: 0, alreadyEnded: 0, pending: 0 });
    expect(progress(op, "idp").failures).toEqual([]);
    for (const name of ["local", "chat", "vault", "casino"]) expect(counts(progress(op, name))).toMatchObject({ listed: true, ended: 1, pending: 0 });

    const done = await untilDone(op!.id);
    expect(counts(progress(done, "idp"))).toEqual({ listed: true, ended: 3, alreadyEnded: 0, pending: 0 });
    expect(progress(done, "idp").failures).toEqual([]);
    // Each session ended exactly once upstream, the listing made once.
    expect(endCalls(held).idp.sort()).toEqual([...held.idp].sort());
    const listings = zitadel.callsOf("ListSessions").filter((c) => zitadelListedUser(c.request as ListSessionsRequest) === held.user);
    expect(listings).toHaveLength(1);
    expect(listings[0]!.aborted).toBe(false);
  });

  it("reports a failure no retry can mend as failed (retrying false), and the operation is done", async () => {
    const held = await seedUser(`u-${hash()}`, { local: 1, chat: 2, vault: 1, idp: 1 });
    rocket.workspace.permissions = new Set(["logout-device-management"]);
    const { operation: op } = await client.terminateUser({ userId: held.user }, as("admin"));

    expect(op?.done).toBe(true);
    const chat = progress(op, "chat");
    expect(counts(chat)).toEqual({ listed: false, ended: 0, alreadyEnded: 0, pending: 0 });
    expect(chat.failures).toEqual([expect.objectContaining({ sessionId: "", code: "FAILED_PRECONDITION", reason: "PROVIDER_PERMISSION_MISSING", retrying: false, attempts: 1 })]);
    for (const name of ["local", "vault", "idp", "casino"]) expect(counts(progress(op, name))).toMatchObject({ ended: 1, pending: 0 });
    const listings = rocket.requests.filter((r) => r.pathname === "/api/v1/sessions/list.all" && r.query.get("filter") === held.user);
    expect(listings).toHaveLength(1);
    // A window in which no retry may come (the absence of calls cannot be polled for).
    await sleep(300);
    // Not retried in the background.
    expect(rocket.requests.filter((r) => r.pathname === "/api/v1/sessions/list.all" && r.query.get("filter") === held.user)).toHaveLength(1);
    expect((await client.getOperation({ id: op!.id }, as("reader"))).operation).toEqual(op);
  });

  it("reports an end that failed for good per session, keeping the others", async () => {
    const held = await seedUser(`u-${hash()}`, { local: 0, chat: 0, vault: 0, idp: 3 });
    const refused = held.idp[1]!;
    zitadel.deleteSession = (req) => {
      if (req.sessionId === refused) return { error: { code: Code.PermissionDenied, message: "Errors.PermissionDenied (AUTHZ-HKJD33)", details: [{ "@type": "type.googleapis.com/zitadel.v1.ErrorDetail", id: "AUTHZ-HKJD33", message: "Errors.PermissionDenied" }] } };
      zitadelSessions.delete(req.sessionId);
      return { response: { details: { sequence: 1n, changeDate: timestampFromDate(new Date()) } } };
    };
    const { operation: op } = await client.terminateUser({ userId: held.user, providers: ["idp"] }, as("admin"));
    expect(op?.done).toBe(true);
    const idp = progress(op, "idp");
    expect(counts(idp)).toEqual({ listed: true, ended: 2, alreadyEnded: 0, pending: 0 });
    expect(idp.failures).toEqual([expect.objectContaining({ sessionId: refused, code: "FAILED_PRECONDITION", reason: "PROVIDER_PERMISSION_MISSING", retrying: false })]);
  });

  it("counts a listed session that is gone when it is ended as already ended, not as a failure", async () => {
    const held = await seedUser(`u-${hash()}`, { local: 0, chat: 0, vault: 0, idp: 2 });
    const vanishing = held.idp[0]!;
    // The session ends upstream between the listing and the end call (the user logged out).
    const list = zitadel.listSessions;
    zitadel.listSessions = (req, call) => {
      const answer = typeof list === "function" ? list(req, call) : list;
      zitadelSessions.delete(vanishing);
      return answer;
    };
    const { operation: op } = await client.terminateUser({ userId: held.user, providers: ["idp"] }, as("admin"));
    expect(op?.done).toBe(true);
    expect(counts(progress(op, "idp"))).toEqual({ listed: true, ended: 1, alreadyEnded: 1, pending: 0 });
    expect(progress(op, "idp").failures).toEqual([]);
    // The audit trail keeps what the upstream answered.
    const { events } = await client.listEvents({ sessionId: vanishing }, as("reader"));
    expect(events.map((e) => [e.code, e.errorReason, e.operationId])).toEqual([["NOT_FOUND", "SESSION_NOT_FOUND", op!.id]]);
  });
});

describe("TerminateUser: edge cases", () => {
  it("signs out a user with no sessions anywhere: done, every count 0", async () => {
    const user = `u-${hash()}`;
    // LuckyMonaco, which lists nothing, says so when the player has no session.
    casino.answerAlways({ body: { error: 998, description: "Player not found or logged out" } });
    const { operation: op } = await client.terminateUser({ userId: user }, as("admin"));
    expect(op?.done).toBe(true);
    for (const name of ["local", "chat", "vault", "idp"]) {
      expect(counts(progress(op, name))).toEqual({ listed: true, ended: 0, alreadyEnded: 0, pending: 0 });
      expect(progress(op, name).failures).toEqual([]);
    }
    // The player's sessions, closed as one, were not there: already ended, no failure.
    expect(counts(progress(op, "casino"))).toEqual({ listed: true, ended: 0, alreadyEnded: 1, pending: 0 });
    expect(progress(op, "casino").failures).toEqual([]);
    const { events } = await client.listEvents({ userId: user }, as("reader"));
    expect(events.map((e) => [e.provider, e.code])).toEqual([["casino", "NOT_FOUND"]]);
  });

  it("returns the same operation for a repeated request_id, with no new upstream calls", async () => {
    const held = await seedUser(`u-${hash()}`, { local: 1, chat: 1, vault: 1, idp: 1 });
    const requestId = randomUUID();
    const first = (await client.terminateUser({ userId: held.user, requestId }, as("admin"))).operation!;
    expect(first.done).toBe(true);
    expect(first.requestId).toBe(requestId);
    const before = upstreamRequests();
    const again = (await client.terminateUser({ userId: held.user, requestId, reason: "again" }, as("admin"))).operation!;
    expect(again.id).toBe(first.id);
    expect(again.reason).toBe("");
    expect(again.providers).toEqual(first.providers);
    expect(upstreamRequests()).toBe(before);
    expect((await client.listOperations({ userId: held.user }, as("reader"))).operations.map((o) => o.id)).toEqual([first.id]);
  });

  it("refuses a request_id already used for another user", async () => {
    const user = `u-${hash()}`;
    const requestId = randomUUID();
    const first = (await client.terminateUser({ userId: user, requestId, providers: ["local"] }, as("admin"))).operation!;
    expect(first.done).toBe(true);
    const err = await failure(client.terminateUser({ userId: `${user}-2`, requestId, providers: ["local"] }, as("admin")));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual(["request_id"]);
    expect((await client.listOperations({ userId: `${user}-2` }, as("reader"))).operations).toEqual([]);
  });
});

describe("TerminateUser, GetOperation, ListOperations: permissions and paging", () => {
  it("TerminateUser needs session.delete", async () => {
    const held = await seedUser(`u-${hash()}`, { local: 1, chat: 0, vault: 0, idp: 0 });
    const before = upstreamRequests();
    for (const role of ["reader", "nobody", "alice"] as const) {
      const err = await failure(client.terminateUser({ userId: held.user }, as(role)));
      expect(err.code).toBe(Code.PermissionDenied);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("PERMISSION_DENIED");
    }
    const anonymous = await failure(client.terminateUser({ userId: held.user }));
    expect(anonymous.code).toBe(Code.Unauthenticated);
    expect(upstreamRequests()).toBe(before);
    expect((await client.listOperations({ userId: held.user }, as("reader"))).operations).toEqual([]);
    // session.delete alone is enough.
    const { operation } = await client.terminateUser({ userId: held.user, providers: ["local"] }, as("deleter"));
    expect(operation?.done).toBe(true);
    expect(operation?.principal).toBe("deleter");
    expect(counts(progress(operation, "local"))).toMatchObject({ ended: 1 });
  });

  it("GetOperation and ListOperations need session.read; an unknown operation is NOT_FOUND", async () => {
    const user = `u-${hash()}`;
    const { operation } = await client.terminateUser({ userId: user, providers: ["local"] }, as("admin"));
    for (const role of ["deleter", "nobody", "alice"] as const) {
      for (const call of [client.getOperation({ id: operation!.id }, as(role)), client.listOperations({}, as(role))]) {
        const err = await failure(call);
        expect(err.code).toBe(Code.PermissionDenied);
        expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("PERMISSION_DENIED");
      }
    }
    expect((await failure(client.getOperation({ id: operation!.id }))).code).toBe(Code.Unauthenticated);
    expect((await failure(client.listOperations({}))).code).toBe(Code.Unauthenticated);
    expect((await client.getOperation({ id: operation!.id }, as("reader"))).operation?.id).toBe(operation!.id);

    for (const id of ["0".repeat(32), "nope", ""]) {
      const err = await failure(client.getOperation({ id }, as("reader")));
      expect(err.code).toBe(Code.NotFound);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("OPERATION_NOT_FOUND");
    }
  });

  it("ListOperations lists newest first, pages, and filters by user", async () => {
    const user = `u-${hash()}`;
    const other = `u-${hash()}`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await client.terminateUser({ userId: user, providers: ["local"] }, as("admin"))).operation!.id);
      if (i === 2) await client.terminateUser({ userId: other, providers: ["local"] }, as("admin"));
      await nextMillisecond(); // operations order by the millisecond they were created in
    }
    const newestFirst = [...ids].reverse();

    const seen: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await client.listOperations({ userId: user, pageSize: 2, pageToken: token }, as("reader"));
      expect(page.operations.length).toBeLessThanOrEqual(2);
      expect(page.operations.every((o) => o.userId === user && o.done)).toBe(true);
      seen.push(...page.operations.map((o) => o.id));
      token = page.nextPageToken;
      pages++;
    } while (token && pages < 10);
    expect(seen).toEqual(newestFirst);
    expect(pages).toBe(3);

    const all = await client.listOperations({ pageSize: 1000 }, as("reader"));
    const mine = all.operations.filter((o) => o.userId === user || o.userId === other);
    expect(mine).toHaveLength(6);
    expect(mine.find((o) => o.userId === other)).toBeDefined();
    const created = all.operations.map((o) => timestampDate(o.createTime!).getTime());
    expect(created).toEqual([...created].sort((a, b) => b - a));
    expect((await client.listOperations({ userId: other }, as("reader"))).operations.map((o) => o.userId)).toEqual([other]);

    // A token is bound to its filter.
    const first = await client.listOperations({ userId: user, pageSize: 2 }, as("reader"));
    const err = await failure(client.listOperations({ userId: other, pageSize: 2, pageToken: first.nextPageToken }, as("reader")));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual(["page_token"]);
    expect((await failure(client.listOperations({ pageToken: "garbage" }, as("reader")))).code).toBe(Code.InvalidArgument);
  });
});

describe("TerminateUser: secrets", () => {
  it("shows no upstream secret in answers, errors or logs", async () => {
    const secrets = [RC_TOKEN, RC_TOTP_SECRET, SS_SECRET, ZITADEL_PAT, LM_TOKEN];
    const { operations } = await client.listOperations({ pageSize: 1000 }, as("reader"));
    const text = JSON.stringify(operations, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
    const { events } = await client.listEvents({ pageSize: 1000 }, as("reader"));
    const eventText = JSON.stringify(events, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v));
    expect(operations.length).toBeGreaterThan(5);
    for (const s of secrets) {
      expect(text).not.toContain(s);
      expect(eventText).not.toContain(s);
      expect(svc.logText()).not.toContain(s);
      for (const t of errorTexts) expect(t).not.toContain(s);
    }
  });
});

describe("TerminateUser: background work slower than its lease or its call timeout", () => {
  let short: TestService;
  let c: Client<typeof SessionControl>;
  beforeAll(async () => {
    // Leases shorter than an upstream call, and a call timeout shorter than the provider's own.
    short = await startTestService({}, {
      providers: [{ name: "idp", type: "zitadel", base_url: zitadel.url, token: "env:TU_ZITADEL_PAT", max_attempts: 1, breaker_failures: 1000, timeout_ms: 5000 }],
      operations: { poll_ms: 20, lease_ms: 100, retry_initial_ms: 100, retry_max_ms: 200, concurrency_per_provider: 4, call_timeout_ms: 2000 },
    });
    c = grpcClient(short);
  });
  afterAll(async () => {
    await short?.stop();
  });

  const shortUntilDone = (id: string) => operationDone(c, id, bearer(short.keys.admin));

  it("never sends an end again while its first call is still running, when the claim's lease lapses meanwhile", async () => {
    const held = await seedUser(`u-${hash()}`, { local: 0, chat: 0, vault: 0, idp: 3 });
    zitadelDelay = { list: 0, remove: 250 };
    const { operation } = await c.terminateUser({ userId: held.user }, { headers: bearer(short.keys.admin) });
    const op = await shortUntilDone(operation!.id);
    expect(op.done).toBe(true);
    expect(counts(progress(op, "idp"))).toEqual({ listed: true, ended: 3, alreadyEnded: 0, pending: 0 });
    expect(endCalls(held).idp.sort()).toEqual([...held.idp].sort());
  });

  it("retries work whose upstream call ran past operations.call_timeout_ms, rather than failing it for good", async () => {
    const held = await seedUser(`u-${hash()}`, { local: 0, chat: 0, vault: 0, idp: 2 });
    let slowOnce = true;
    const list = zitadel.listSessions;
    zitadel.listSessions = (req, call) => {
      const answer = typeof list === "function" ? list(req, call) : list;
      // The first listing is held until the service gives up on it (call_timeout_ms); the retry is answered at once.
      const delayMs = slowOnce ? 30_000 : 0;
      slowOnce = false;
      return { ...answer, delayMs };
    };
    const { operation } = await c.terminateUser({ userId: held.user }, { headers: bearer(short.keys.admin) });
    const first = progress(operation, "idp");
    expect(first.failures).toEqual([expect.objectContaining({ sessionId: "", code: "DEADLINE_EXCEEDED", reason: "UPSTREAM_TIMEOUT", retrying: true })]);
    expect(operation?.done).toBe(false);
    const op = await shortUntilDone(operation!.id);
    expect(op.done).toBe(true);
    expect(counts(progress(op, "idp"))).toEqual({ listed: true, ended: 2, alreadyEnded: 0, pending: 0 });
    expect(progress(op, "idp").failures).toEqual([]);
    expect(zitadel.callsOf("ListSessions").filter((x) => zitadelListedUser(x.request as ListSessionsRequest) === held.user)).toHaveLength(2);
    expect(endCalls(held).idp.sort()).toEqual([...held.idp].sort());
  });
});

describe("TerminateUser: a graceful stop in the middle of the work", () => {
  it("leaves the interrupted work pending, and the next start finishes it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "session-control-stop-"));
    const key = newApiKey();
    const config = parseConfig(
      {
        api_keys: [{ name: "ops", sha256: sha256Hex(key), permissions: ["session.read", "session.delete"] }],
        providers: [{ name: "idp", type: "zitadel", base_url: zitadel.url, token: "env:TU_ZITADEL_PAT", max_attempts: 1, breaker_failures: 1000, timeout_ms: 5000 }],
        operations: { poll_ms: 20, lease_ms: 5000, retry_initial_ms: 100, retry_max_ms: 200, call_timeout_ms: 5000 },
        server: { shutdown_grace_ms: 0 },
      },
      { port: 0, dataDir },
    );
    const start = async () => {
      const running = await startService(config, createLogger("silent"));
      return { running, client: createClient(SessionControl, createGrpcTransport({ baseUrl: `http://127.0.0.1:${running.server.port}` })) };
    };
    try {
      const held = await seedUser(`u-${hash()}`, { local: 0, chat: 0, vault: 0, idp: 2 });
      zitadelDelay = { list: 3000, remove: 0 };
      const first = await start();
      const { operation } = await first.client.terminateUser({ userId: held.user }, { headers: bearer(key), timeoutMs: 2_000 });
      expect(operation?.done).toBe(false);
      await first.running.stop();
      // The listing was cut short by the stop: nothing failed.
      const listing = zitadel.callsOf("ListSessions").filter((x) => zitadelListedUser(x.request as ListSessionsRequest) === held.user);
      expect(listing).toHaveLength(1);
      await until("the listing to be aborted", () => listing[0]!.aborted);
      expect(listing[0]!.aborted).toBe(true);
      const store = SqliteStores.open(dataDir);
      try {
        const stored = await store.operations.getOperation(operation!.id);
        expect(stored?.operation.done).toBe(false);
        expect(stored?.items.map((i) => [i.kind, i.state, i.lastError])).toEqual([["list", "pending", undefined]]);
      } finally {
        await store.close();
      }

      zitadelDelay = { list: 0, remove: 0 };
      const second = await start();
      try {
        const op = await operationDone(second.client, operation!.id, bearer(key));
        expect(op.done).toBe(true);
        expect(counts(progress(op, "idp"))).toEqual({ listed: true, ended: 2, alreadyEnded: 0, pending: 0 });
        expect(progress(op, "idp").failures).toEqual([]);
        expect(endCalls(held).idp.sort()).toEqual([...held.idp].sort());
      } finally {
        await second.running.stop();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/**
 * A TCP gate in front of an upstream on a fixed port: shut, it refuses connections (and cuts the
 * open ones); reopened, it forwards again on the same port.
 */
class TcpGate {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly target: number,
    private port: number,
  ) {}

  static async open(target: number): Promise<TcpGate> {
    const gate = new TcpGate(target, 0);
    await gate.reopen();
    return gate;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async reopen(): Promise<void> {
    const server = createServer((downstream) => {
      const upstream = connect(this.target, "127.0.0.1");
      for (const s of [downstream, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => (downstream.destroy(), upstream.destroy()));
      }
      downstream.pipe(upstream).pipe(downstream);
    });
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(this.port, "127.0.0.1", () => resolve()));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async shut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  close(): Promise<void> {
    return this.shut();
  }
}
