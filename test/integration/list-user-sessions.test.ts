import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SessionControl, type ProviderSessions } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { EndLedger } from "../fakes/end-ledger.js";
import { FakeLuckyMonaco } from "../fakes/luckymonaco.js";
import { FakeRocketChat } from "../fakes/rocketchat.js";
import { allClients, codeOf } from "../helpers/clients.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

const RC_ADMIN = "sc-admin";
const RC_TOKEN_ENV = "SC_LUS_RC_TOKEN";
const RC_TOKEN = "rc-token-list-user-sessions";
const RC_WRONG_ENV = "SC_LUS_RC_WRONG";
/** How long the slow workspace takes to answer: far past every deadline of these tests. */
const SLOW_MS = 8_000;
const MAX_PER_PROVIDER = 3;

let chat: FakeRocketChat;
let slowChat: FakeRocketChat;
let slowLedger: EndLedger;
let casino: FakeLuckyMonaco;
let svc: TestService;
let client: Client<typeof SessionControl>;
let userN = 0;

const as = (role: Role) => ({ headers: bearer(svc.keys[role]) });
const part = (parts: ProviderSessions[], provider: string) => parts.find((p) => p.provider === provider)!;

beforeAll(async () => {
  process.env[RC_TOKEN_ENV] = RC_TOKEN;
  process.env[RC_WRONG_ENV] = "not-our-token";
  [chat, slowChat, casino] = await Promise.all([FakeRocketChat.start(), FakeRocketChat.start(), FakeLuckyMonaco.start()]);
  slowLedger = new EndLedger(slowChat);
  // Each provider makes one attempt per call, and its own timeout is longer than the deadlines here.
  const rocket = (name: string, fake: FakeRocketChat, tokenEnv: string) => ({ name, type: "rocketchat", base_url: fake.url, user_id: RC_ADMIN, auth_token: `env:${tokenEnv}`, max_attempts: 1, breaker_failures: 1000, timeout_ms: 20_000 });
  svc = await startTestService({}, {
    providers: [
      { name: "local", type: "local" },
      rocket("chat", chat, RC_TOKEN_ENV),
      // Our credentials are wrong there: every call is refused with 401.
      rocket("broken", chat, RC_WRONG_ENV),
      rocket("slow", slowChat, RC_TOKEN_ENV),
      { name: "casino", type: "luckymonaco", base_url: casino.url, secure_login: "partner-7", token: `env:${RC_TOKEN_ENV}` },
    ],
    // Small, so that a test reaches them: parts of at most MAX_PER_PROVIDER sessions, two listings at once per provider (half of 4).
    user_sessions: { max_per_provider: MAX_PER_PROVIDER },
    operations: { concurrency_per_provider: 4 },
  });
  client = grpcClient(svc);
});
afterAll(async () => {
  await svc?.stop();
  await Promise.all([chat?.close(), slowChat?.close(), casino?.close()]);
  delete process.env[RC_TOKEN_ENV];
  delete process.env[RC_WRONG_ENV];
});
beforeEach(() => {
  for (const fake of [chat, slowChat]) fake.reset({ userId: RC_ADMIN, authToken: RC_TOKEN });
  slowLedger.delayMs = 0;
});

/** A user with two sessions in the embedded store (the second ended) and two in each Rocket.Chat, one of them logged out. */
async function userWithSessions(): Promise<{ user: string; local: [string, string] }> {
  const user = `lus-user-${++userN}`;
  const a = await client.createSession({ userId: user }, as("admin"));
  const b = await client.createSession({ userId: user }, as("admin"));
  await client.terminate({ sessionId: b.sessionId }, as("admin"));
  for (const fake of [chat, slowChat]) {
    fake.addSession({ sessionId: `${user}-on`, userId: user, loginToken: "lt-1" });
    fake.addSession({ sessionId: `${user}-off`, userId: user, logoutAt: new Date().toISOString() });
    fake.addSession({ sessionId: `someone-else-${user}`, userId: `other-${user}`, loginToken: "lt-2" });
  }
  return { user, local: [a.sessionId, b.sessionId] };
}

describe("ListUserSessions", () => {
  it("answers each provider on its own: sessions, the mapped failure of one, the slow one DEADLINE_EXCEEDED when the deadline comes, and one that cannot list", async () => {
    const { user, local } = await userWithSessions();
    slowLedger.delayMs = SLOW_MS;
    const started = Date.now();
    const res = await client.listUserSessions({ userId: user }, { ...as("reader"), timeoutMs: 2_000 });
    const elapsed = Date.now() - started;
    // Answered by the deadline, with what came in; not held back by the slow provider.
    expect(elapsed).toBeLessThan(2_000);
    expect(res.providers.map((p) => p.provider)).toEqual(["local", "chat", "broken", "slow", "casino"]);

    const mine = part(res.providers, "local");
    expect(mine).toMatchObject({ type: "local", providerUserId: user, cannotList: false, truncated: false });
    expect(mine.failure).toBeUndefined();
    expect(mine.sessions.map((s) => [s.id, s.userId, s.active]).sort()).toEqual([[local[0], user, true], [local[1], user, false]].sort());
    for (const s of mine.sessions) expect(Math.abs(timestampDate(s.createTime!).getTime() - Date.now())).toBeLessThan(60_000);

    const answered = part(res.providers, "chat");
    expect(answered.failure).toBeUndefined();
    // Rocket.Chat lists logged-in sessions; the other user's is not the user's.
    expect(answered.sessions.map((s) => [s.id, s.userId, s.active])).toEqual([[`${user}-on`, user, true]]);

    const failed = part(res.providers, "broken");
    expect(failed.sessions).toEqual([]);
    expect(failed.failure).toMatchObject({ code: "FAILED_PRECONDITION", reason: "PROVIDER_CREDENTIALS_REJECTED", domain: "broken", retryable: false });
    expect(failed.failure?.metadata).toMatchObject({ upstream_status: "401", upstream_message: "You must be logged in to do this." });

    const slow = part(res.providers, "slow");
    expect(slow.sessions).toEqual([]);
    expect(slow.failure).toMatchObject({ code: "DEADLINE_EXCEEDED", reason: "CALLER_DEADLINE_EXCEEDED", domain: "slow" });
    // The slow upstream's request was given up, not left running.
    expect(slowChat.requests.length).toBe(1);
    await until("the slow request to be given up", () => slowChat.requests[0]!.aborted);

    expect(part(res.providers, "casino")).toMatchObject({ type: "luckymonaco", cannotList: true, sessions: [] });
    expect(part(res.providers, "casino").failure).toBeUndefined();
    // Nothing was asked of the casino.
    expect(casino.requests).toEqual([]);
  });

  it("with a slow provider and a 3 s deadline, returns before it, the others answered", async () => {
    const { user } = await userWithSessions();
    slowLedger.delayMs = SLOW_MS;
    const started = Date.now();
    // Room enough for a loaded machine; the slow provider would take SLOW_MS.
    const res = await client.listUserSessions({ userId: user, providers: ["slow", "chat"] }, { ...as("reader"), timeoutMs: 3_000 });
    expect(Date.now() - started).toBeLessThan(SLOW_MS / 2);
    expect(res.providers.map((p) => [p.provider, p.failure?.code ?? "answered"])).toEqual([["slow", "DEADLINE_EXCEEDED"], ["chat", "answered"]]);
  });

  it("holds at most user_sessions.max_per_provider sessions per part, marked truncated when there were more", async () => {
    const { user, local } = await userWithSessions();
    for (let i = 0; i < 2; i++) local.push((await client.createSession({ userId: user }, as("admin"))).sessionId);
    for (let i = 0; i < 3; i++) chat.addSession({ sessionId: `${user}-more-${i}`, userId: user, loginToken: "lt" });
    const res = await client.listUserSessions({ userId: user, providers: ["local", "chat"] }, { ...as("reader"), timeoutMs: 5_000 });
    const [mine, theirs] = res.providers;
    expect(local).toHaveLength(4);
    expect(mine).toMatchObject({ provider: "local", truncated: true });
    expect(mine!.sessions).toHaveLength(MAX_PER_PROVIDER);
    for (const s of mine!.sessions) expect(local).toContain(s.id);
    expect(theirs).toMatchObject({ provider: "chat", truncated: true });
    expect(theirs!.sessions).toHaveLength(MAX_PER_PROVIDER);
    // Exactly as many as a part holds is not truncated.
    const { user: another } = await userWithSessions();
    await client.createSession({ userId: another }, as("admin"));
    const exact = await client.listUserSessions({ userId: another, providers: ["local"] }, { ...as("reader"), timeoutMs: 5_000 });
    expect(exact.providers[0]).toMatchObject({ truncated: false });
    expect(exact.providers[0]!.sessions).toHaveLength(MAX_PER_PROVIDER);
  });

  it("marks a part truncated when the provider stops at its own page cap, with fewer sessions than the part holds", async () => {
    // An id with a "." is not sent to Rocket.Chat as a filter: every user's sessions are read, at most 100 pages of 100.
    const user = `lus.dotted-${++userN}`;
    for (let i = 0; i < 10_000; i++) chat.addSession({ sessionId: `crowd-${i}`, userId: `crowd-${i}`, loginToken: "lt" });
    chat.addSession({ sessionId: `${user}-last`, userId: user, loginToken: "lt" });
    const capped = await client.listUserSessions({ userId: user, providers: ["chat"] }, { ...as("reader"), timeoutMs: 10_000 });
    expect(capped.providers[0]).toMatchObject({ provider: "chat", truncated: true, sessions: [] });
    expect(chat.requests).toHaveLength(100);
    // One session fewer before the user's: the last page reaches it, and the part is whole.
    chat.sessions.delete("crowd-0");
    const whole = await client.listUserSessions({ userId: user, providers: ["chat"] }, { ...as("reader"), timeoutMs: 10_000 });
    expect(whole.providers[0]).toMatchObject({ provider: "chat", truncated: false });
    expect(whole.providers[0]!.sessions.map((s) => s.id)).toEqual([`${user}-last`]);
  });

  it("lists in one provider at most half of operations.concurrency_per_provider (4) at once: the others wait, and one still waiting at the deadline is cut off without a request", async () => {
    const { user } = await userWithSessions();
    slowLedger.delayMs = SLOW_MS;
    const list = (timeoutMs: number) => client.listUserSessions({ userId: user, providers: ["slow"] }, { ...as("reader"), timeoutMs });
    const started = Date.now();
    const first = [list(4_000), list(4_000)];
    await until("two listings sent", () => slowChat.requests.length === 2);
    // These two wait for a place, and their deadline comes before one is free.
    const waiting = await Promise.all([list(2_000), list(2_000)]);
    expect(waiting.map((a) => a.providers[0]!.failure?.reason)).toEqual(["CALLER_DEADLINE_EXCEEDED", "CALLER_DEADLINE_EXCEEDED"]);
    expect(slowChat.requests.length).toBe(2);
    expect((await Promise.all(first)).map((a) => a.providers[0]!.failure?.reason)).toEqual(["CALLER_DEADLINE_EXCEEDED", "CALLER_DEADLINE_EXCEEDED"]);
    expect(Date.now() - started).toBeLessThan(SLOW_MS / 2);
    // Two were sent; the two that waited for a place were never made.
    expect(slowChat.requests.length).toBe(2);
    await until("the slow requests to be given up", () => slowChat.requests.every((r) => r.aborted));
  });

  it("answers over every protocol", async () => {
    const { user, local } = await userWithSessions();
    for (const c of allClients(svc.baseUrl)) {
      try {
        const res = await c.call(SessionControl.method.listUserSessions, { userId: user, providers: ["local"] }, bearer(svc.keys.reader));
        expect(res.providers.map((p) => p.sessions.map((s) => s.id).sort()), c.name).toEqual([[...local].sort()]);
      } finally {
        c.close();
      }
    }
  });

  it("asks each provider for the user's id there: the request's, else the linked one, else user_id", async () => {
    const { user } = await userWithSessions();
    chat.addSession({ sessionId: "rc-linked-session", userId: "rc-linked", loginToken: "lt" });
    chat.addSession({ sessionId: "rc-given-session", userId: "rc-given", loginToken: "lt" });
    await client.setUserLinks({ userId: user, providerUserIds: { chat: "rc-linked" } }, as("linker"));
    const linked = await client.listUserSessions({ userId: user, providers: ["chat", "local"] }, { ...as("reader"), timeoutMs: 5_000 });
    expect(linked.providers.map((p) => [p.provider, p.providerUserId, p.sessions.length])).toEqual([["chat", "rc-linked", 1], ["local", user, 2]]);
    expect(linked.providers[0]!.sessions[0]!.id).toBe("rc-linked-session");
    const given = await client.listUserSessions({ userId: user, providers: ["chat"], providerUserIds: { chat: "rc-given" } }, { ...as("reader"), timeoutMs: 5_000 });
    expect(given.providers.map((p) => [p.providerUserId, p.sessions.map((s) => s.id)])).toEqual([["rc-given", ["rc-given-session"]]]);
  });

  it("needs session.read", async () => {
    const { user } = await userWithSessions();
    for (const role of ["deleter", "alice", "nobody", "linker"] as const) {
      expect(await codeOf(client.listUserSessions({ userId: user }, { ...as(role), timeoutMs: 5_000 })), role).toBe(Code.PermissionDenied);
    }
    // Refused before any provider is asked.
    expect(chat.requests).toEqual([]);
  });

  it("refuses a missing user_id, an unknown provider and an empty provider_user_ids value, naming each", async () => {
    const err = await client.listUserSessions({ userId: "", providers: ["nowhere"], providerUserIds: { chat: "" } }, as("reader")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((err as ConnectError).rawMessage).toBe('user_id: is required; providers: unknown provider "nowhere"; configured: local, chat, broken, slow, casino; provider_user_ids["chat"]: is required');
  });
});
