import { randomBytes } from "node:crypto";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { auth0Table } from "../../src/status/auth0.js";
import { auth0Error, FakeAuth0 } from "../fakes/auth0.js";
import { expectEndedNow } from "../helpers/ended-now.js";
import { keepErrorTexts } from "../helpers/errors.js";
import { allOfUserCall, buildOne, jsonAnswer, rejection, retryDelayMs, RowTracker, type RowCase } from "../helpers/provider-rows.js";
import { bearer, grpcClient, startTestService, type TestService } from "../helpers/service.js";
import { TOKEN_LIFE_PROVIDERS, tokenLifeTests } from "../helpers/token-life.js";
import { until } from "../helpers/wait.js";

const CLIENT_ID = "m2m-session-control";
const SECRET = `a0-secret-${randomBytes(12).toString("hex")}`;

let fake: FakeAuth0;
let svc: TestService;
let client: Client<typeof SessionControl>;
/** Some of the service's providers built once more, by name, to call them directly (user-wide ends, listing). */
const direct = new Map<string, ReturnType<typeof buildOne>>();
const { failure, texts: errorTexts } = keepErrorTexts();
const rows = new RowTracker(auth0Table);

beforeAll(async () => {
  fake = await FakeAuth0.start({ clientId: CLIENT_ID, clientSecret: SECRET });
  process.env["A0_SECRET"] = SECRET;
  process.env["A0_WRONG_SECRET"] = "wrong-secret";
  const common = { type: "auth0", base_url: fake.url, client_id: CLIENT_ID, client_secret: "env:A0_SECRET", max_attempts: 1, breaker_failures: 1000, timeout_ms: 2000 };
  const providers = [
    { ...common, name: "auth0" },
    { ...common, name: "auth0-wrong-secret", client_secret: "env:A0_WRONG_SECRET" },
    { ...common, name: "auth0-other-audience", audience: "https://elsewhere.example/api/v2/" },
    { ...common, name: "auth0-quick", timeout_ms: 300 },
    ...[...TOKEN_LIFE_PROVIDERS, "t-global", "t-client", "t-unauth", "t-request", "t-malformed", "t-limited"].map((name) => ({ ...common, name })),
  ];
  svc = await startTestService({}, { providers, default_provider: "auth0" });
  client = grpcClient(svc);
  direct.set("auth0", buildOne(providers[0]!));
});
afterAll(async () => {
  await svc.stop();
  await Promise.all([...direct.values()].map((d) => d.close()));
  await fake.close();
});
beforeEach(() => fake.reset());

const admin = () => ({ headers: bearer(svc.keys.admin) });
const sid = () => randomBytes(16).toString("base64url");
const terminate = (sessionId: string, provider = "auth0") => client.terminate({ sessionId, provider }, admin());
const endAll = (userId: string, provider = "auth0") => direct.get(provider)!.provider.terminate(allOfUserCall(userId));
const list = (userId: string) => direct.get("auth0")!.provider.listUserSessions({ userId, signal: new AbortController().signal });

describe("auth0: success", () => {
  it("gets a client-credentials token for the Management API, then DELETE /api/v2/sessions/{id}: 202 accepted", async () => {
    const id = sid();
    fake.addSession("auth0|u1", id);
    const before = Date.now();
    expectEndedNow(await terminate(id), "auth0", before);
    const [tokenReq, del] = fake.requests;
    expect([tokenReq!.method, tokenReq!.path, tokenReq!.headers["content-type"]]).toEqual(["POST", "/oauth/token", "application/x-www-form-urlencoded"]);
    expect(tokenReq!.form).toEqual({ grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: SECRET, audience: `${fake.url}/api/v2/` });
    expect([del!.method, del!.path, del!.headers.authorization, del!.headers.accept, del!.text]).toEqual(["DELETE", `/api/v2/sessions/${id}`, `Bearer ${fake.issued.at(-1)}`, "application/json", ""]);
    expect(fake.sessions.has(id)).toBe(false);
  });

  it("answers OK already_terminated when Auth0 no longer knows a session this service ended", async () => {
    const id = sid();
    fake.addSession("auth0|u1", id);
    await terminate(id);
    expect((await terminate(id)).alreadyTerminated).toBe(true);
  });
});

describe("auth0: a user's sessions", () => {
  it("lists them page by page (take, from = next); an expired one is not active", async () => {
    const ids = Array.from({ length: 230 }, () => sid());
    for (const id of ids) fake.addSession("auth0|many", id);
    const old = fake.addSession("auth0|many", sid(), new Date(Date.now() - 1000));
    fake.addSession("auth0|other", sid());
    const { sessions: listed, complete } = await list("auth0|many");
    expect(complete).toBe(true);
    expect(listed).toHaveLength(231);
    expect(listed.filter((s) => !s.active).map((s) => s.sessionId)).toEqual([old.id]);
    expect(listed.every((s) => s.userId === "auth0|many")).toBe(true);
    expect(fake.apiRequests.map((r) => r.path)).toEqual([
      "/api/v2/users/auth0%7Cmany/sessions?take=100",
      "/api/v2/users/auth0%7Cmany/sessions?take=100&from=100",
      "/api/v2/users/auth0%7Cmany/sessions?take=100&from=200",
    ]);
  });

  it("ends all of them in one call, after counting the open ones: allOfUser, sessionsEnded", async () => {
    for (let i = 0; i < 3; i++) fake.addSession("google-oauth2|42", sid());
    fake.addSession("google-oauth2|42", sid(), new Date(Date.now() - 1000));
    const res = await endAll("google-oauth2|42");
    expect(res).toMatchObject({ allOfUser: true, sessionsEnded: 3, alreadyTerminated: false });
    expect(fake.apiRequests.map((r) => [r.method, r.path])).toEqual([
      ["GET", "/api/v2/users/google-oauth2%7C42/sessions?take=100"],
      ["DELETE", "/api/v2/users/google-oauth2%7C42/sessions"],
    ]);
    expect([...fake.sessions.values()].filter((s) => s.user_id === "google-oauth2|42")).toEqual([]);
  });

  it("ends them uncounted when the listing lacks read:sessions", async () => {
    fake.addSession("auth0|u2", sid());
    fake.answerApiOnce({ status: 403, body: auth0Error(403, "Forbidden", "Insufficient scope, expected any of: read:sessions", "insufficient_scope") });
    const res = await endAll("auth0|u2");
    expect(res.allOfUser).toBe(true);
    expect(res.sessionsEnded).toBeUndefined();
    expect(fake.apiRequests.map((r) => r.method)).toEqual(["GET", "DELETE"]);
  });
});

const json = jsonAnswer;
const err = (status: number, error: string, message: string, errorCode?: string) => json(status, auth0Error(status, error, message, errorCode));

const ROW_CASES: RowCase[] = [
  { name: "an id with '\\': nothing sent", sessionId: "a\\b", code: Code.InvalidArgument, reason: "SESSION_ID_INVALID", metadata: { upstream_code: "session_id_invalid", upstream_message: "session_id must not contain '/' or '\\'" }, sent: 0 },
  { name: "404 for a session it does not know", code: Code.NotFound, reason: "SESSION_NOT_FOUND", metadata: { upstream_status: "404", upstream_message: "The session does not exist." } },
  { name: "404 inexistent_user", program: () => fake.answerApiOnce(err(404, "Not Found", "The user does not exist.", "inexistent_user")), code: Code.NotFound, reason: "USER_NOT_FOUND", metadata: { upstream_status: "404", upstream_code: "inexistent_user", upstream_message: "The user does not exist." } },
  { name: "404 'The user does not exist.' without errorCode", program: () => fake.answerApiOnce(err(404, "Not Found", "The user does not exist.")), code: Code.NotFound, reason: "USER_NOT_FOUND", metadata: { upstream_status: "404", upstream_message: "The user does not exist." } },
  { name: "401 invalid_token, again after one refresh", program: () => fake.answerApiOnce(err(401, "Unauthorized", "Expired token", "invalid_token"), err(401, "Unauthorized", "Expired token", "invalid_token")), code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "401", upstream_code: "invalid_token", upstream_message: "Expired token" }, sent: 2 },
  { name: "403 insufficient_scope", program: () => fake.answerApiOnce(err(403, "Forbidden", "Insufficient scope, expected any of: delete:sessions", "insufficient_scope")), code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING", metadata: { upstream_status: "403", upstream_code: "insufficient_scope", upstream_message: "Insufficient scope, expected any of: delete:sessions" } },
  { name: "403 not in the plan", program: () => fake.answerApiOnce(err(403, "Forbidden", "This feature is not enabled for this tenant.", "operation_not_supported")), code: Code.FailedPrecondition, reason: "PROVIDER_LICENSE_REQUIRED", metadata: { upstream_status: "403", upstream_code: "operation_not_supported", upstream_message: "This feature is not enabled for this tenant." } },
  {
    name: "429 too_many_requests with x-ratelimit-reset",
    program: () => fake.answerApiOnce(json(429, auth0Error(429, "Too Many Requests", "Global limit has been reached", "too_many_requests"), { "x-ratelimit-limit": "50", "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + 20) })),
    code: Code.Unavailable,
    reason: "UPSTREAM_RATE_LIMITED",
    metadata: { upstream_status: "429", upstream_code: "too_many_requests", upstream_message: "Global limit has been reached" },
    retryable: true,
  },
  { name: "400 invalid_uri", program: () => fake.answerApiOnce(err(400, "Bad Request", "Path validation error: 'String is too long' on property id", "invalid_uri")), code: Code.InvalidArgument, reason: "UPSTREAM_REJECTED_ARGUMENT", metadata: { upstream_status: "400", upstream_code: "invalid_uri", upstream_message: "Path validation error: 'String is too long' on property id" } },
  { name: "token endpoint 500 access_denied 'Global limit has been reached'", provider: "t-global", program: () => fake.answerTokenOnce(json(500, { error: "access_denied", error_description: "Global limit has been reached" })), code: Code.Unavailable, reason: "UPSTREAM_RATE_LIMITED", metadata: { upstream_status: "500", upstream_code: "access_denied", upstream_message: "Global limit has been reached" }, retryable: true, sent: 0 },
  { name: "token endpoint 401 access_denied (wrong client_secret)", provider: "auth0-wrong-secret", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "401", upstream_code: "access_denied", upstream_message: "Unauthorized" }, sent: 0 },
  { name: "token endpoint invalid_client", provider: "t-client", program: () => fake.answerTokenOnce(json(401, { error: "invalid_client", error_description: "Client authentication failed" })), code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "401", upstream_code: "invalid_client", upstream_message: "Client authentication failed" }, sent: 0 },
  { name: "token endpoint 403 access_denied (an audience with no client grant)", provider: "auth0-other-audience", code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING", metadata: { upstream_status: "403", upstream_code: "access_denied", upstream_message: "Service not enabled within domain: https://elsewhere.example/api/v2/" }, sent: 0 },
  { name: "token endpoint unauthorized_client", provider: "t-unauth", program: () => fake.answerTokenOnce(json(403, { error: "unauthorized_client", error_description: "Grant type 'client_credentials' not allowed for the client." })), code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "403", upstream_code: "unauthorized_client", upstream_message: "Grant type 'client_credentials' not allowed for the client." }, sent: 0 },
  { name: "token endpoint invalid_request", provider: "t-request", program: () => fake.answerTokenOnce(json(400, { error: "invalid_request", error_description: "Invalid audience" })), code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "400", upstream_code: "invalid_request", upstream_message: "Invalid audience" }, sent: 0 },
  { name: "any other 401, again after one refresh", program: () => fake.answerApiOnce({ status: 401, raw: "" }, { status: 401, raw: "" }), code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "401", upstream_message: "HTTP 401" }, sent: 2 },
  { name: "any other 403", program: () => fake.answerApiOnce({ status: 403, raw: "<html>Forbidden</html>" }), code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING", metadata: { upstream_status: "403", upstream_message: "<html>Forbidden</html>" } },
  { name: "any other 404", program: () => fake.answerApiOnce({ status: 404, raw: "Not Found" }), code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "404", upstream_message: "Not Found" } },
];

describe("auth0: every row of the mapping table", () => {
  it.each(ROW_CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    c.program?.();
    const provider = c.provider ?? "auth0";
    const e = await failure(terminate(c.sessionId ?? sid(), provider));
    rows.expectCall(e, provider, c);
    expect(fake.apiRequests).toHaveLength(c.sent ?? 1);
    if (c.name.startsWith("429")) {
      expect(retryDelayMs(e)).toBeGreaterThan(18_000);
      expect(retryDelayMs(e)).toBeLessThanOrEqual(20_000);
    }
  });

  it("a user id that could change the path: nothing sent", async () => {
    rows.expectFailure(await rejection(endAll("..")), "auth0", { code: Code.InvalidArgument, reason: "USER_ID_INVALID", metadata: { upstream_code: "user_id_invalid", upstream_message: 'user_id must not be "." or ".."' } });
    expect(fake.requests).toHaveLength(0);
  });

  it("has a case for each row", () => {
    expect(rows.missed()).toEqual([]);
  });
});

describe("auth0: malformed, reset, slow", () => {
  it("a token answer without access_token, and a listing that is not {sessions}, are malformed", async () => {
    fake.answerTokenOnce({ body: { token_type: "Bearer" } });
    const e = await failure(terminate(sid(), "t-malformed"));
    expect(e.findDetails(ErrorInfoSchema)[0]!.reason).toBe("UPSTREAM_MALFORMED_ANSWER");
    fake.users.add("auth0|u3");
    fake.answerApiOnce({ body: [{ id: "x" }] });
    const f = (await rejection(list("auth0|u3"))) as { row: { reason: string } };
    expect(f.row.reason).toBe("UPSTREAM_MALFORMED_ANSWER");
  });

  it("token endpoint 429 with x-ratelimit-reset: RetryInfo waits until the reset, nothing sent to the API", async () => {
    const reset = { "x-ratelimit-limit": "30", "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + 20) };
    fake.answerTokenOnce(json(429, { error: "access_denied", error_description: "Global limit has been reached" }, reset));
    const e = await failure(terminate(sid(), "t-limited"));
    expect([e.code, e.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.Unavailable, "UPSTREAM_RATE_LIMITED"]);
    expect(retryDelayMs(e)).toBeGreaterThan(18_000);
    expect(retryDelayMs(e)).toBeLessThanOrEqual(20_000);
    expect(fake.apiRequests).toHaveLength(0);
  });

  it("a connection reset mid-answer is UNAVAILABLE, and the service still serves", async () => {
    fake.answerApiOnce({ status: 404, body: auth0Error(404, "Not Found", "x".repeat(2000)), resetMidAnswer: true });
    const e = await failure(terminate(sid()));
    expect(e.findDetails(ErrorInfoSchema)[0]!.reason).toBe("UPSTREAM_CONNECTION_RESET");
    const id = sid();
    fake.addSession("auth0|u1", id);
    expect((await terminate(id)).alreadyTerminated).toBe(false);
  });

  it("an answer slower than the provider's timeout is DEADLINE_EXCEEDED and the request aborted", async () => {
    await terminate(sid(), "auth0-quick").catch(() => undefined); // a cached token first
    fake.reset();
    fake.answerApiOnce({ status: 202, raw: "", delayMs: 1500 });
    const e = await failure(terminate(sid(), "auth0-quick"));
    expect(e.code).toBe(Code.DeadlineExceeded);
    await until("the upstream request to be aborted", () => fake.apiRequests[0]?.aborted);
  });
});

describe("auth0: ids never change the upstream path", () => {
  const refused = ["../x", "a/b", "a\\b", "..", ".", "a\u0007b", "%2F"];
  const accepted = ["auth0|abc", "?q", "#f", "ünï"];

  it.each(refused.map((id) => [JSON.stringify(id), id] as const))("refused, nothing sent: %s", async (_label, id) => {
    const err = await failure(terminate(id));
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("SESSION_ID_INVALID");
    expect(fake.apiRequests).toEqual([]);
  });

  it.each(accepted.map((id) => [JSON.stringify(id), id] as const))("percent-encoded into the path: %s", async (_label, id) => {
    await terminate(id).catch(() => undefined);
    expect(fake.apiRequests.map((r) => r.path)).toEqual([`/api/v2/sessions/${encodeURIComponent(id)}`]);
  });
});

describe("auth0: the access token", () => {
  tokenLifeTests(() => fake, async (provider, n) => {
    const ids = Array.from({ length: n }, () => sid());
    for (const id of ids) fake.addSession("auth0|u1", id);
    await Promise.all(ids.map((id) => terminate(id, provider)));
  });
});

describe("auth0: secrets", () => {
  it("never shows the client secret or an access token in the logs or in an error", () => {
    expect(fake.issued.length).toBeGreaterThan(3);
    for (const secret of [SECRET, ...fake.issued]) {
      for (const text of [svc.logText(), ...errorTexts]) expect(text).not.toContain(secret);
    }
  });
});
