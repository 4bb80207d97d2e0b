import { randomUUID } from "node:crypto";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { Provider } from "../../src/providers/provider.js";
import { kratosTable } from "../../src/status/kratos.js";
import { FakeKratos, herodot } from "../fakes/kratos.js";
import { expectEndedNow } from "../helpers/ended-now.js";
import { keepErrorTexts } from "../helpers/errors.js";
import { allOfUserCall, buildOne, rejection, RowTracker, type RowCase } from "../helpers/provider-rows.js";
import { bearer, grpcClient, startTestService, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

const API_KEY = `ory_pat_${randomUUID().replace(/-/g, "")}`;
const WRONG_KEY = `ory_pat_wrong_${randomUUID().replace(/-/g, "")}`;

let fake: FakeKratos;
let cloud: FakeKratos;
let svc: TestService;
let client: Client<typeof SessionControl>;
let direct: { provider: Provider; close: () => Promise<void> };
const { failure, texts: errorTexts } = keepErrorTexts();
const rows = new RowTracker(kratosTable);

beforeAll(async () => {
  fake = await FakeKratos.start();
  cloud = await FakeKratos.start(API_KEY);
  process.env["ORY_KEY"] = API_KEY;
  process.env["ORY_WRONG_KEY"] = WRONG_KEY;
  const common = { type: "kratos", admin_url: fake.url, max_attempts: 1, breaker_failures: 1000, timeout_ms: 2000 };
  svc = await startTestService({}, {
    providers: [
      { ...common, name: "kr" },
      { ...common, name: "kr-cloud", admin_url: cloud.url, token: "env:ORY_KEY" },
      { ...common, name: "kr-wrong-key", admin_url: cloud.url, token: "env:ORY_WRONG_KEY" },
      { ...common, name: "kr-quick", timeout_ms: 300 },
      // Retries: the backoff is short, the longest wait the call takes for the upstream 5 s.
      { ...common, name: "kr-retry", max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 5000 },
    ],
    default_provider: "kr",
  });
  client = grpcClient(svc);
  direct = buildOne({ ...common, name: "kr-direct" });
});
afterAll(async () => {
  await direct.close();
  await svc.stop();
  await fake.close();
  await cloud.close();
});
beforeEach(() => {
  fake.reset();
  cloud.reset();
});

const admin = () => ({ headers: bearer(svc.keys.admin) });
const terminate = (sessionId: string, provider = "kr", timeoutMs?: number) => client.terminate({ sessionId, provider }, { ...admin(), ...(timeoutMs !== undefined && { timeoutMs }) });
const list = (userId: string) => direct.provider.listUserSessions({ userId, signal: new AbortController().signal });

describe("kratos: success", () => {
  it("deactivates the session: DELETE /admin/sessions/{id}, 204, no credentials on a self-hosted admin port", async () => {
    const s = fake.addSession(randomUUID());
    const before = Date.now();
    expectEndedNow(await terminate(s.id), "kr", before);
    expect(fake.requests.map((r) => [r.method, r.path, r.text])).toEqual([["DELETE", `/admin/sessions/${s.id}`, ""]]);
    expect(fake.requests[0]!.headers.authorization).toBeUndefined();
    expect(fake.requests[0]!.headers.accept).toBe("application/json");
    expect(s.active).toBe(false);
  });

  it("sends the Ory Network API key as a bearer token", async () => {
    const s = cloud.addSession(randomUUID());
    await terminate(s.id, "kr-cloud");
    expect(cloud.requests[0]!.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  it("answers OK already_terminated when Kratos no longer knows a session this service ended", async () => {
    const s = fake.addSession(randomUUID());
    await terminate(s.id);
    fake.sessions.length = 0;
    expect((await terminate(s.id)).alreadyTerminated).toBe(true);
  });
});

describe("kratos: all of a user's sessions", () => {
  it("lists the identity's active sessions, deletes them all in one call, and says how many were open", async () => {
    const identity = randomUUID();
    fake.addSession(identity);
    fake.addSession(identity);
    fake.addSession(identity, false);
    const other = fake.addSession(randomUUID());
    const res = await direct.provider.terminate(allOfUserCall(identity));
    expect(res).toMatchObject({ allOfUser: true, sessionsEnded: 2, alreadyTerminated: false, userId: identity });
    expect(fake.requests.map((r) => [r.method, r.path])).toEqual([
      ["GET", `/admin/identities/${identity}/sessions?active=true&per_page=500`],
      ["DELETE", `/admin/identities/${identity}/sessions`],
    ]);
    expect(fake.sessions).toEqual([other]);
  });

  it("an identity with no sessions left: Kratos' 404 means nothing to end, OK already_terminated", async () => {
    const res = await direct.provider.terminate(allOfUserCall(randomUUID()));
    expect(res).toMatchObject({ allOfUser: true, sessionsEnded: 0, alreadyTerminated: true });
    expect(fake.requests.map((r) => r.answer?.status)).toEqual([200, 404]);
  });

  it("listUserSessions follows the Link header's next page", async () => {
    const identity = randomUUID();
    const made = Array.from({ length: 5 }, () => fake.addSession(identity));
    fake.pageCap = 2;
    const listed = await list(identity);
    expect(listed).toEqual({ sessions: made.map((s) => ({ sessionId: s.id, userId: identity, active: true })), complete: true });
    expect(fake.requests.map((r) => r.query.get("page"))).toEqual([null, "1", "2"]);
  });

  it("stops when the Link header leads back to a page already read, and counts each session once", async () => {
    const identity = randomUUID();
    const [a, b, c] = Array.from({ length: 3 }, () => fake.addSession(identity));
    const path = `/admin/identities/${identity}/sessions`;
    const page = (sessions: unknown[], next: number) => ({ body: sessions, headers: { link: `<${path}?active=true&page=${next}&per_page=2>; rel="next"` } });
    // Page 0, then page 1 whose "next" is page 0 again (which still names page 1 as next).
    const loop = () => fake.answerOnce(page([a, b], 1), page([c], 0), page([a, b], 1));
    loop();
    expect(await list(identity)).toEqual({ sessions: [a, b, c].map((s) => ({ sessionId: s!.id, userId: identity, active: true })), complete: true });
    expect(fake.requests.map((r) => r.query.get("page"))).toEqual([null, "1", "0"]);

    fake.reset();
    [a, b, c].forEach((s) => fake.sessions.push(s!));
    loop();
    const res = await direct.provider.terminate(allOfUserCall(identity));
    expect(res).toMatchObject({ allOfUser: true, sessionsEnded: 3 });
    expect(fake.requests.filter((r) => r.method === "GET")).toHaveLength(3);
  });

  it("stops after 200 pages and says the listing is incomplete; a user-wide end then leaves the count unknown rather than too low", async () => {
    const identity = randomUUID();
    for (let i = 0; i < 201; i++) fake.addSession(identity);
    fake.pageCap = 1;
    const listed = await list(identity);
    expect(listed.complete).toBe(false);
    expect(listed.sessions).toHaveLength(200);
    expect(fake.requests).toHaveLength(200);

    const res = await direct.provider.terminate(allOfUserCall(identity));
    expect(res).toMatchObject({ allOfUser: true, alreadyTerminated: false });
    expect(res.sessionsEnded).toBeUndefined();
  });
});

const SESSION_ROWS: RowCase[] = [
  { name: "a session id that is not a UUID: nothing is sent", sessionId: "../x", code: Code.InvalidArgument, reason: "SESSION_ID_INVALID", metadata: { upstream_code: "session_id_invalid", upstream_message: "session_id must be a UUID, as Kratos' ids are" }, sent: 0 },
  { name: 'HTTP 404 "Unable to locate the resource"', code: Code.NotFound, reason: "SESSION_NOT_FOUND", metadata: { upstream_status: "404", upstream_message: "Unable to locate the resource" } },
  {
    name: "HTTP 400 with error.id and reason",
    program: () => fake.answerOnce({ status: 400, body: herodot(400, "Bad Request", "The request was malformed or contained invalid parameters", { id: "bad_request", reason: "could not parse UUID" }) }),
    code: Code.InvalidArgument,
    reason: "UPSTREAM_REJECTED_ARGUMENT",
    metadata: { upstream_status: "400", upstream_code: "bad_request", upstream_message: "The request was malformed or contained invalid parameters (could not parse UUID)" },
  },
  { name: "HTTP 401: a wrong Ory Network API key", provider: "kr-wrong-key", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "401", upstream_message: "The request could not be authorized (Access credentials are invalid)" } },
  { name: "HTTP 403", program: () => fake.answerOnce({ status: 403, body: herodot(403, "Forbidden", "The requested action was forbidden") }), code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING", metadata: { upstream_status: "403", upstream_message: "The requested action was forbidden" } },
  { name: "HTTP 404 in plain text (not the admin port)", program: () => fake.answerOnce({ status: 404, raw: "404 page not found" }), code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "404", upstream_message: "HTTP 404" } },
  { name: "HTTP 500 herodot", program: () => fake.answerOnce({ status: 500, body: herodot(500, "Internal Server Error", "An internal server error occurred, please contact the system administrator") }), code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", retryable: true, metadata: { upstream_status: "500", upstream_message: "An internal server error occurred, please contact the system administrator" } },
  { name: "an undocumented HTTP 418: no row knows it", program: () => fake.answerOnce({ status: 418, raw: "teapot" }), code: Code.Unknown, reason: "UPSTREAM_UNEXPECTED_ANSWER", metadata: { upstream_status: "418", upstream_message: "HTTP 418" } },
];

describe("kratos: every row of the mapping table", () => {
  it.each(SESSION_ROWS.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    c.program?.();
    const provider = c.provider ?? "kr";
    rows.expectCall(await failure(terminate(c.sessionId ?? randomUUID(), provider)), provider, c);
    expect(fake.requests.length + cloud.requests.length).toBe(c.sent ?? 1);
  });

  it.each([
    ["an identity id that is not a UUID: nothing is sent", "alice", { code: Code.InvalidArgument, reason: "USER_ID_INVALID", metadata: { upstream_code: "user_id_invalid", upstream_message: "user_id must be a UUID, as Kratos' ids are" } }],
    ["no user id: nothing is sent", "", { code: Code.InvalidArgument, reason: "USER_ID_REQUIRED", metadata: { upstream_code: "user_id_missing", upstream_message: "user_id is required to end all of a user's sessions" } }],
  ] as const)("all of a user's: %s", async (_name, userId, want) => {
    rows.expectFailure(await rejection(direct.provider.terminate(allOfUserCall(userId))), "kr-direct", want);
    expect(fake.requests).toHaveLength(0);
  });

  it("has a case for each row", () => {
    expect(rows.missed()).toEqual([]);
  });
});

describe("kratos: answers beyond the table", () => {
  it("HTTP 429 with Retry-After (Ory Network's rate limit): UNAVAILABLE, retried, RetryInfo with its delay", async () => {
    fake.answerOnce({ status: 429, body: herodot(429, "Too Many Requests", "Rate limit exceeded"), headers: { "retry-after": "3" } });
    const err = await failure(terminate(randomUUID()));
    expect([err.code, err.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.Unavailable, "UPSTREAM_RATE_LIMITED"]);
    expect(err.findDetails(RetryInfoSchema)[0]!.retryDelay?.seconds).toBe(3n);
  });

  it("a list that is not an array is malformed; a list failure maps through the table", async () => {
    fake.answerOnce({ body: { sessions: [] } });
    expect((await rejection(list(randomUUID())) as { reason: string }).reason).toBe("UPSTREAM_MALFORMED_ANSWER");
    fake.answerOnce({ status: 403, body: herodot(403, "Forbidden", "The requested action was forbidden") });
    expect((await rejection(list(randomUUID())) as { reason: string }).reason).toBe("PROVIDER_PERMISSION_MISSING");
  });

  it("a connection reset mid-answer is UNAVAILABLE UPSTREAM_CONNECTION_RESET", async () => {
    fake.answerOnce({ body: herodot(500, "x", "x".repeat(2000)), resetMidAnswer: true });
    const err = await failure(terminate(randomUUID()));
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("UPSTREAM_CONNECTION_RESET");
  });

  it("an answer slower than the provider's timeout is DEADLINE_EXCEEDED and the request is aborted", async () => {
    fake.answerOnce({ status: 204, raw: "", delayMs: 1500 });
    const err = await failure(terminate(randomUUID(), "kr-quick"));
    expect([err.code, err.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.DeadlineExceeded, "UPSTREAM_TIMEOUT"]);
    await until("the upstream request to be aborted", () => fake.requests[0]?.aborted);
  });
});

describe("kratos: Retry-After and the retry within the call", () => {
  const limited = (seconds: number) => ({ status: 429, body: herodot(429, "Too Many Requests", "Rate limit exceeded"), headers: { "retry-after": String(seconds) } });

  it("waits at least the upstream's Retry-After before the retry, not the shorter backoff", async () => {
    const s = fake.addSession(randomUUID());
    fake.answerOnce(limited(1));
    expect((await terminate(s.id, "kr-retry")).alreadyTerminated).toBe(false);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]!.receivedAt - fake.requests[0]!.receivedAt).toBeGreaterThanOrEqual(1000);
  });

  it("does not wait in the call for a Retry-After beyond max_backoff_ms: UNAVAILABLE at once, RetryInfo with the upstream's delay", async () => {
    fake.answerOnce(limited(30));
    const started = Date.now();
    const err = await failure(terminate(randomUUID(), "kr-retry"));
    expect([err.code, err.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.Unavailable, "UPSTREAM_RATE_LIMITED"]);
    expect(err.findDetails(RetryInfoSchema)[0]!.retryDelay?.seconds).toBe(30n);
    expect(fake.requests).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("does not wait for a Retry-After that ends past the caller's deadline: UNAVAILABLE with RetryInfo, not DEADLINE_EXCEEDED", async () => {
    fake.answerOnce(limited(3));
    const err = await failure(terminate(randomUUID(), "kr-retry", 2000));
    expect([err.code, err.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.Unavailable, "UPSTREAM_RATE_LIMITED"]);
    expect(err.findDetails(RetryInfoSchema)[0]!.retryDelay?.seconds).toBe(3n);
    expect(fake.requests).toHaveLength(1);
  });
});

describe("kratos: only UUIDs go into the path", () => {
  const ids = ["../x", "a/b", ".", "..", "a\u0000b", "%2F", "?q", `${randomUUID()}/x`, ` ${randomUUID()}`, randomUUID(), randomUUID().toUpperCase()];
  it.each(ids.map((id) => [JSON.stringify(id).slice(0, 44), id] as const))("%s", async (_label, id) => {
    const err = await terminate(id).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
      expect(err!.findDetails(ErrorInfoSchema)[0]!.reason).toBe("SESSION_ID_INVALID");
      expect(fake.requests).toEqual([]);
      return;
    }
    expect(fake.requests.map((r) => r.path)).toEqual([`/admin/sessions/${id}`]);
  });
});

describe("kratos: secrets", () => {
  it("never shows the API key in the logs or in an error", () => {
    for (const secret of [API_KEY, WRONG_KEY]) {
      for (const text of [svc.logText(), ...errorTexts]) expect(text).not.toContain(secret);
    }
  });
});
