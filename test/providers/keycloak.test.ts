import { randomUUID } from "node:crypto";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { Provider } from "../../src/providers/provider.js";
import { keycloakTable } from "../../src/status/keycloak.js";
import { FakeKeycloak } from "../fakes/keycloak.js";
import { expectEndedNow } from "../helpers/ended-now.js";
import { keepErrorTexts } from "../helpers/errors.js";
import { allOfUserCall, buildOne, rejection, RowTracker, type RowCase } from "../helpers/provider-rows.js";
import { bearer, grpcClient, startTestService, type TestService } from "../helpers/service.js";
import { sleep, until } from "../helpers/wait.js";

const REALM = "acme";
const CLIENT_ID = "session-control";
const SECRET = `kc-secret-${randomUUID()}`;
const WRONG_SECRET = `kc-wrong-${randomUUID()}`;
const ADMIN = `/admin/realms/${REALM}`;
const TOKEN_PATH = `/realms/${REALM}/protocol/openid-connect/token`;

let fake: FakeKeycloak;
let svc: TestService;
let client: Client<typeof SessionControl>;
let direct: { provider: Provider; close: () => Promise<void> };
const { failure, texts: errorTexts } = keepErrorTexts();
const rows = new RowTracker(keycloakTable);

beforeAll(async () => {
  fake = await FakeKeycloak.start({ realm: REALM, clientId: CLIENT_ID, clientSecret: SECRET });
  process.env["KC_SECRET"] = SECRET;
  process.env["KC_WRONG_SECRET"] = WRONG_SECRET;
  // One attempt, and a breaker that never opens here: each answer is seen exactly once.
  const common = { type: "keycloak", base_url: fake.url, realm: REALM, client_id: CLIENT_ID, client_secret: "env:KC_SECRET", max_attempts: 1, breaker_failures: 1000, timeout_ms: 2000 };
  svc = await startTestService({}, {
    providers: [
      { ...common, name: "kc" },
      { ...common, name: "kc-wrong-secret", client_secret: "env:KC_WRONG_SECRET" },
      { ...common, name: "kc-no-realm", realm: "nope" },
      // Only ever refused at the token endpoint: it never holds a token.
      { ...common, name: "kc-token-rows" },
      { ...common, name: "kc-token-url", base_url: "http://127.0.0.1:9/unused", token_url: `${fake.url}${TOKEN_PATH}` },
      { ...common, name: "kc-quick", timeout_ms: 300 },
      // Providers whose token cache each test starts empty.
      ...["t-cache", "t-401", "t-expiry"].map((name) => ({ ...common, name })),
    ],
    default_provider: "kc",
  });
  client = grpcClient(svc);
  direct = buildOne({ ...common, name: "kc-direct" });
});
afterAll(async () => {
  await direct.close();
  await svc.stop();
  await fake.close();
});
beforeEach(() => fake.reset());

const admin = () => ({ headers: bearer(svc.keys.admin) });
function terminate(sessionId: string, provider = "kc", options: Record<string, string> = {}) {
  return client.terminate({ sessionId, provider, options }, admin());
}

describe("keycloak: success", () => {
  it("gets a token by client credentials and deletes the session with it: DELETE /admin/realms/{realm}/sessions/{session}, 204", async () => {
    const s = fake.addSession(randomUUID());
    const before = Date.now();
    expectEndedNow(await terminate(s.id), "kc", before);
    expect(fake.requests).toHaveLength(2);
    const [tokenReq, del] = fake.requests;
    expect([tokenReq!.method, tokenReq!.path]).toEqual(["POST", TOKEN_PATH]);
    expect(tokenReq!.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(tokenReq!.headers.authorization).toBeUndefined();
    expect(tokenReq!.form).toEqual({ grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: SECRET });
    expect([del!.method, del!.path]).toEqual(["DELETE", `${ADMIN}/sessions/${s.id}`]);
    expect(del!.headers.authorization).toBe(`Bearer ${fake.issued.at(-1)}`);
    expect(del!.headers.accept).toBe("application/json");
    expect(del!.headers["content-type"]).toBeUndefined();
    expect(del!.text).toBe("");
    expect(fake.sessions).toEqual([]);
  });

  it("passes isOffline=true as the query parameter when asked, and refuses other values before a request", async () => {
    const s = fake.addSession(randomUUID());
    await terminate(s.id, "kc", { isOffline: "true" });
    expect(fake.apiRequests.map((r) => r.path)).toEqual([`${ADMIN}/sessions/${s.id}?isOffline=true`]);
    const err = await failure(terminate(s.id, "kc", { isOffline: "yes" }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(fake.apiRequests).toHaveLength(1);
  });

  it("asks the configured token_url", async () => {
    const err = await failure(terminate(randomUUID(), "kc-token-url"));
    // The token came from the fake; the API call then went to the unused base_url.
    expect(fake.tokenRequests).toHaveLength(1);
    expect(err.code).toBe(Code.Unavailable);
  });

  it("answers OK already_terminated when Keycloak no longer knows a session this service ended", async () => {
    const s = fake.addSession(randomUUID());
    expect((await terminate(s.id)).alreadyTerminated).toBe(false);
    expect((await terminate(s.id)).alreadyTerminated).toBe(true);
  });
});

describe("keycloak: all of a user's sessions", () => {
  it("lists the user's sessions, ends them with one logout, and says how many were open", async () => {
    const user = randomUUID();
    fake.addSession(user);
    fake.addSession(user);
    const other = fake.addSession(randomUUID());
    const res = await direct.provider.terminate(allOfUserCall(user));
    expect(res).toMatchObject({ allOfUser: true, sessionsEnded: 2, alreadyTerminated: false, userId: user });
    expect(fake.apiRequests.map((r) => [r.method, r.path, r.text])).toEqual([
      ["GET", `${ADMIN}/users/${user}/sessions`, ""],
      ["POST", `${ADMIN}/users/${user}/logout`, ""],
    ]);
    expect(fake.sessions).toEqual([other]);
  });

  it("ends them uncounted when the listing is refused for a missing role (view-users) or fails for now: the count is a report, the logout is the work", async () => {
    for (const answer of [{ status: 403, body: { error: "HTTP 403 Forbidden" } }, { status: 503, body: { error: "unavailable" } }]) {
      fake.reset();
      const user = randomUUID();
      fake.addSession(user);
      fake.answerApiOnce(answer);
      const res = await direct.provider.terminate(allOfUserCall(user));
      expect(res.allOfUser, String(answer.status)).toBe(true);
      expect(res.sessionsEnded, String(answer.status)).toBeUndefined();
      expect(fake.apiRequests.filter((r) => r.method === "POST").map((r) => r.path)).toEqual([`${ADMIN}/users/${user}/logout`]);
    }
  });

  it("listUserSessions gives the sessions Keycloak lists, by the ids DELETE takes", async () => {
    const user = randomUUID();
    const a = fake.addSession(user);
    expect(await direct.provider.listUserSessions({ userId: user, signal: new AbortController().signal })).toEqual({ sessions: [{ sessionId: a.id, userId: user, active: true }], complete: true });
  });

  it("percent-encodes a federated user id (f:<component>:<name>) into the path", async () => {
    const user = `f:${randomUUID()}:jdoe@example.com`;
    fake.addSession(user);
    expect((await direct.provider.terminate(allOfUserCall(user))).sessionsEnded).toBe(1);
    expect(fake.apiRequests[1]!.path).toBe(`${ADMIN}/users/${encodeURIComponent(user)}/logout`);
  });
});

const SESSION_ROWS: RowCase[] = [
  { name: "a session id with '/': nothing is sent", sessionId: "../x", code: Code.InvalidArgument, reason: "SESSION_ID_INVALID", metadata: { upstream_code: "session_id_invalid", upstream_message: "session_id must not contain '/' or '\\'" }, sent: 0 },
  { name: 'HTTP 404 "Sesssion not found"', code: Code.NotFound, reason: "SESSION_NOT_FOUND", metadata: { upstream_status: "404", upstream_message: "Sesssion not found" } },
  { name: 'token endpoint 404 "Realm does not exist"', provider: "kc-no-realm", code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "404", upstream_message: "Realm does not exist" }, sent: 1 },
  {
    name: "token endpoint unauthorized_client: service accounts are off",
    provider: "kc-token-rows",
    program: () => fake.answerTokenOnce({ status: 401, body: { error: "unauthorized_client", error_description: "Client not enabled to retrieve service account" } }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "401", upstream_code: "unauthorized_client", upstream_message: "Client not enabled to retrieve service account" },
    sent: 0,
  },
  { name: "token endpoint 401 invalid_client (wrong client_secret)", provider: "kc-wrong-secret", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "401", upstream_code: "invalid_client", upstream_message: "Invalid client or Invalid client credentials" }, sent: 0 },
  {
    name: "token endpoint 401 unauthorized_client (newer releases)",
    provider: "kc-token-rows",
    program: () => fake.answerTokenOnce({ status: 401, body: { error: "unauthorized_client", error_description: "Invalid client or Invalid client credentials" } }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_code: "unauthorized_client", upstream_message: "Invalid client or Invalid client credentials" },
    sent: 0,
  },
  {
    name: "API 401 again after one token refresh",
    program: () => fake.answerApiOnce({ status: 401, body: { error: "HTTP 401 Unauthorized" } }, { status: 401, body: { error: "HTTP 401 Unauthorized" } }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_message: "HTTP 401 Unauthorized" },
    sent: 2,
  },
  { name: "HTTP 403 (no manage-users)", program: () => fake.answerApiOnce({ status: 403, body: { error: "HTTP 403 Forbidden" } }), code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING", metadata: { upstream_status: "403", upstream_message: "HTTP 403 Forbidden" } },
  { name: "HTTP 404 as an HTML page (base_url is not Keycloak's)", program: () => fake.answerApiOnce({ status: 404, raw: "<html>Not Found</html>" }), code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "404", upstream_message: "HTTP 404" } },
  { name: "HTTP 400 {errorMessage}", program: () => fake.answerApiOnce({ status: 400, body: { errorMessage: "Invalid request" } }), code: Code.FailedPrecondition, reason: "UPSTREAM_REJECTED_REQUEST", metadata: { upstream_status: "400", upstream_message: "Invalid request" } },
  { name: "HTTP 503 from a proxy", program: () => fake.answerApiOnce({ status: 503, raw: "Service Unavailable" }), code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", retryable: true, metadata: { upstream_status: "503", upstream_message: "HTTP 503" } },
  { name: "a 302 to a login page: no row knows it", program: () => fake.answerApiOnce({ status: 302, raw: "" }), code: Code.Unknown, reason: "UPSTREAM_UNEXPECTED_ANSWER", metadata: { upstream_status: "302", upstream_message: "HTTP 302" } },
];

describe("keycloak: every row of the mapping table", () => {
  it.each(SESSION_ROWS.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    c.program?.();
    const provider = c.provider ?? "kc";
    rows.expectCall(await failure(terminate(c.sessionId ?? randomUUID(), provider)), provider, c);
    expect(fake.apiRequests).toHaveLength(c.sent ?? 1);
    if (c.sent === 2) expect(fake.apiRequests[0]!.headers.authorization).not.toBe(fake.apiRequests[1]!.headers.authorization);
  });

  it.each([
    ["a user id with '\\': nothing is sent", "a\\b", { code: Code.InvalidArgument, reason: "USER_ID_INVALID", metadata: { upstream_code: "user_id_invalid", upstream_message: "user_id must not contain '/' or '\\'" } }, 0],
    ["no user id: nothing is sent", "", { code: Code.InvalidArgument, reason: "USER_ID_REQUIRED", metadata: { upstream_code: "user_id_missing", upstream_message: "user_id is required to end all of a user's sessions" } }, 0],
    ['HTTP 404 "User not found"', randomUUID(), { code: Code.NotFound, reason: "USER_NOT_FOUND", metadata: { upstream_status: "404", upstream_message: "User not found" } }, 1],
  ] as const)("all of a user's: %s", async (_name, userId, want, api) => {
    rows.expectFailure(await rejection(direct.provider.terminate(allOfUserCall(userId))), "kc-direct", want);
    expect(fake.apiRequests).toHaveLength(api);
  });

  it('token endpoint 404 "Realm not found." (the admin API\'s words)', async () => {
    fake.answerTokenOnce({ status: 404, body: { error: "Realm not found." } });
    const want = { code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "404", upstream_message: "Realm not found." } };
    rows.expectCall(await failure(terminate(randomUUID(), "kc-token-rows")), "kc-token-rows", want);
  });

  it("has a case for each row", () => {
    expect(rows.missed()).toEqual([]);
  });
});

describe("keycloak: answers beyond the table", () => {
  it("HTTP 429 with Retry-After: UNAVAILABLE, retried, RetryInfo with Keycloak's (or its proxy's) delay", async () => {
    fake.answerApiOnce({ status: 429, raw: "", headers: { "retry-after": "7" } });
    const err = await failure(terminate(randomUUID()));
    expect([err.code, err.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.Unavailable, "UPSTREAM_RATE_LIMITED"]);
    expect(err.findDetails(RetryInfoSchema)[0]!.retryDelay?.seconds).toBe(7n);
  });

  it("token endpoint HTTP 429 with Retry-After: UNAVAILABLE, RetryInfo with its delay, nothing sent to the API", async () => {
    fake.answerTokenOnce({ status: 429, body: { error: "too_many_requests", error_description: "slow down" }, headers: { "retry-after": "9" } });
    const err = await failure(terminate(randomUUID(), "kc-token-rows"));
    expect([err.code, err.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.Unavailable, "UPSTREAM_RATE_LIMITED"]);
    expect(err.findDetails(RetryInfoSchema)[0]!.retryDelay?.seconds).toBe(9n);
    expect(fake.apiRequests).toHaveLength(0);
  });

  it("a list that is not an array is malformed", async () => {
    await direct.provider.listUserSessions({ userId: randomUUID(), signal: new AbortController().signal }).catch(() => undefined); // a token first
    fake.answerApiOnce({ body: { sessions: [] } });
    const err = await rejection(direct.provider.listUserSessions({ userId: randomUUID(), signal: new AbortController().signal }));
    expect((err as { reason: string }).reason).toBe("UPSTREAM_MALFORMED_ANSWER");
  });

  it("a connection reset mid-answer is UNAVAILABLE UPSTREAM_CONNECTION_RESET", async () => {
    fake.answerApiOnce({ body: { error: "x".repeat(2000) }, resetMidAnswer: true });
    const err = await failure(terminate(randomUUID()));
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("UPSTREAM_CONNECTION_RESET");
  });

  it("an answer slower than the provider's timeout is DEADLINE_EXCEEDED and the request is aborted", async () => {
    await terminate(randomUUID(), "kc-quick").catch(() => undefined); // a cached token first
    fake.reset();
    fake.answerApiOnce({ status: 204, raw: "", delayMs: 1500 });
    const err = await failure(terminate(randomUUID(), "kc-quick"));
    expect([err.code, err.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.DeadlineExceeded, "UPSTREAM_TIMEOUT"]);
    await until("the upstream request to be aborted", () => fake.apiRequests[0]?.aborted);
  });
});

describe("keycloak: ids never change the upstream path", () => {
  const refused = ["../x", "a/b", "a\\b", ".", "..", "a\u0000b", "line\nbreak", "%2F"];
  const accepted = ["?q", "#f", "a b", "会话", "x".repeat(200)];
  const label = (id: string) => [JSON.stringify(id).slice(0, 40), id] as const;

  it.each(refused.map(label))("refused, nothing sent: %s", async (_label, id) => {
    const err = await failure(terminate(id));
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("SESSION_ID_INVALID");
    expect(fake.requests).toEqual([]);
  });

  it.each(accepted.map(label))("percent-encoded into the path: %s", async (_label, id) => {
    await terminate(id).catch(() => undefined);
    expect(fake.apiRequests.filter((r) => r.method === "DELETE").map((r) => r.path)).toEqual([`${ADMIN}/sessions/${encodeURIComponent(id)}`]);
  });
});

describe("keycloak: the access token", () => {
  const ends = async (provider: string, n: number) => {
    for (let i = 0; i < n; i++) await terminate(fake.addSession(randomUUID()).id, provider);
  };
  const bearers = () => fake.apiRequests.map((r) => r.headers.authorization);

  it("is cached across calls", async () => {
    await ends("t-cache", 3);
    expect(fake.tokenRequests).toHaveLength(1);
    expect(new Set(bearers())).toEqual(new Set([`Bearer ${fake.issued.at(-1)}`]));
  });

  it("is fetched once more after a 401, and the request sent again with it", async () => {
    await ends("t-401", 1);
    fake.revokeTokens();
    await ends("t-401", 1);
    expect(fake.tokenRequests).toHaveLength(2);
    const seen = bearers();
    expect(seen).toHaveLength(3);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(`Bearer ${fake.issued.at(-1)}`);
  });

  it("is fetched again shortly before it expires", async () => {
    fake.expiresIn = 1;
    await ends("t-expiry", 1);
    // Past 90 % of the token's 1 s lifetime, where the adapter refreshes: that time is the subject.
    await sleep(Math.max(0, fake.tokenRequests[0]!.receivedAt + 950 - Date.now()));
    await ends("t-expiry", 1);
    expect(fake.tokenRequests).toHaveLength(2);
  });
});

describe("keycloak: secrets", () => {
  it("cuts our secret out of an upstream message that echoes it", async () => {
    fake.answerTokenOnce({ status: 400, body: { error: "invalid_request", error_description: `client_secret ${SECRET} is not allowed here` } });
    const err = await failure(terminate(randomUUID(), "kc-token-rows"));
    expect(err.findDetails(ErrorInfoSchema)[0]!.metadata["upstream_message"]).toBe("client_secret [secret] is not allowed here");
  });

  it("never shows the client secret or an access token in the logs or in an error", () => {
    for (const secret of [SECRET, WRONG_SECRET, ...fake.issued]) {
      for (const text of [svc.logText(), ...errorTexts]) expect(text).not.toContain(secret);
    }
  });
});
