import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { ALL_SESSIONS } from "../../src/providers/provider.js";
import { oktaTable } from "../../src/status/okta.js";
import type { FakeAnswer } from "../fakes/http-fake.js";
import { FakeOkta, oktaError } from "../fakes/okta.js";
import { expectEndedNow } from "../helpers/ended-now.js";
import { keepErrorTexts } from "../helpers/errors.js";
import { allOfUserCall, buildOne, jsonAnswer, rejection, retryDelayMs, RowTracker, type RowCase } from "../helpers/provider-rows.js";
import { bearer, grpcClient, startTestService, type TestService } from "../helpers/service.js";
import { TOKEN_LIFE_PROVIDERS, tokenLifeTests } from "../helpers/token-life.js";
import { until } from "../helpers/wait.js";

const API_TOKEN = `00okta-${randomBytes(12).toString("hex")}`;
const CLIENT_ID = "0oa-session-control";
const KEY_ID = "sc-key-1";
const dir = mkdtempSync(join(tmpdir(), "okta-test-"));
const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const other = generateKeyPairSync("rsa", { modulusLength: 2048 });

let fake: FakeOkta;
let svc: TestService;
let client: Client<typeof SessionControl>;
/** Some of the service's providers built once more, by name, to call them directly (user-wide ends, listing). */
const direct = new Map<string, ReturnType<typeof buildOne>>();
const { failure, texts: errorTexts } = keepErrorTexts();
const rows = new RowTracker(oktaTable);

beforeAll(async () => {
  fake = await FakeOkta.start({ apiToken: API_TOKEN, clientId: CLIENT_ID, publicKey });
  const pem = join(dir, "okta.pem");
  writeFileSync(pem, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  const jwk = join(dir, "okta.jwk");
  writeFileSync(jwk, JSON.stringify({ ...privateKey.export({ format: "jwk" }), kid: "from-jwk" }), { mode: 0o600 });
  const wrongKey = join(dir, "wrong.pem");
  writeFileSync(wrongKey, other.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
  process.env["OKTA_API_TOKEN"] = API_TOKEN;
  process.env["OKTA_WRONG_TOKEN"] = "00wrong-token";
  const common = { type: "okta", base_url: fake.url, max_attempts: 1, breaker_failures: 1000, timeout_ms: 2000 };
  const ssws = { ...common, token: "env:OKTA_API_TOKEN" };
  const oauth = { ...common, client_id: CLIENT_ID, private_key: `file:${pem}`, key_id: KEY_ID };
  const providers = [
    { ...ssws, name: "okta" },
    { ...ssws, name: "okta-wrong-token", token: "env:OKTA_WRONG_TOKEN" },
    { ...ssws, name: "okta-quick", timeout_ms: 300 },
    { ...ssws, name: "okta-keep-tokens", revoke_oauth_tokens: false },
    { ...oauth, name: "okta-oauth" },
    { ...oauth, name: "okta-wrong-key", private_key: `file:${wrongKey}` },
    { ...oauth, name: "okta-jwk", private_key: `file:${jwk}`, key_id: undefined },
    // Providers whose token cache a test starts empty.
    ...[...TOKEN_LIFE_PROVIDERS, "t-scope", "t-unauth", "t-dpop", "t-malformed", "t-5xx", "t-limited", "t-echo"].map((name) => ({ ...oauth, name })),
  ];
  svc = await startTestService({}, { providers, default_provider: "okta" });
  client = grpcClient(svc);
  for (const p of providers.filter((p) => ["okta", "okta-keep-tokens"].includes(p.name))) direct.set(p.name, buildOne(p));
});
afterAll(async () => {
  await svc.stop();
  await Promise.all([...direct.values()].map((d) => d.close()));
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => fake.reset());

const admin = () => ({ headers: bearer(svc.keys.admin) });
const sid = () => `102${randomBytes(10).toString("hex")}`;
const terminate = (sessionId: string, provider = "okta") => client.terminate({ sessionId, provider }, admin());
const endAll = (userId: string, provider = "okta") => direct.get(provider)!.provider.terminate(allOfUserCall(userId));

describe("okta: success", () => {
  it("ends a session with the SSWS API token: DELETE /api/v1/sessions/{id}, 204", async () => {
    const id = sid();
    fake.addSession("00u1", id);
    const before = Date.now();
    expectEndedNow(await terminate(id), "okta", before);
    expect(fake.requests).toHaveLength(1);
    const [req] = fake.requests;
    expect([req!.method, req!.path]).toEqual(["DELETE", `/api/v1/sessions/${id}`]);
    expect(req!.headers.authorization).toBe(`SSWS ${API_TOKEN}`);
    expect(req!.headers.accept).toBe("application/json");
    expect(req!.headers["content-type"]).toBeUndefined();
    expect(req!.text).toBe("");
    expect(fake.sessions.get(id)!.live).toBe(false);
  });

  it("answers OK already_terminated when Okta no longer knows a session this service ended", async () => {
    const id = sid();
    fake.addSession("00u1", id);
    await terminate(id);
    expect((await terminate(id)).alreadyTerminated).toBe(true);
    expect(fake.apiRequests).toHaveLength(2);
  });

  it("with a service app: a private-key JWT for a token, then the bearer token", async () => {
    const id = sid();
    fake.addSession("00u1", id);
    await terminate(id, "okta-oauth");
    const [tokenReq, del] = fake.requests;
    expect([tokenReq!.method, tokenReq!.path]).toEqual(["POST", "/oauth2/v1/token"]);
    expect(tokenReq!.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(tokenReq!.headers.authorization).toBeUndefined();
    const { client_assertion: assertion, ...form } = tokenReq!.form!;
    expect(form).toEqual({ grant_type: "client_credentials", scope: "okta.sessions.manage okta.users.manage", client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" });
    expect(assertion!.split(".")).toHaveLength(3);
    const { header, payload } = fake.assertions[0]!;
    expect(header).toEqual({ alg: "RS256", typ: "JWT", kid: KEY_ID });
    expect(payload).toMatchObject({ iss: CLIENT_ID, sub: CLIENT_ID, aud: `${fake.url}/oauth2/v1/token` });
    expect((payload["exp"] as number) - (payload["iat"] as number)).toBe(300);
    expect(typeof payload["jti"]).toBe("string");
    expect([del!.method, del!.path, del!.headers.authorization]).toEqual(["DELETE", `/api/v1/sessions/${id}`, `Bearer ${fake.issued.at(-1)}`]);
  });

  it("takes the key as a JWK, with the JWK's kid", async () => {
    const id = sid();
    fake.addSession("00u1", id);
    await terminate(id, "okta-jwk");
    expect(fake.assertions[0]!.header).toEqual({ alg: "RS256", typ: "JWT", kid: "from-jwk" });
  });
});

describe("okta: a user's sessions, all in one call", () => {
  it("DELETE /api/v1/users/{id}/sessions?oauthTokens=true ends every session of the user; nothing to count", async () => {
    const [a, b] = [sid(), sid()];
    fake.addSession("00u-all", a);
    fake.addSession("00u-all", b);
    fake.addSession("00u-other", sid());
    const res = await endAll("00u-all");
    expect(res.allOfUser).toBe(true);
    expect(res.sessionsEnded).toBeUndefined();
    expect(res.alreadyTerminated).toBe(false);
    expect(fake.requests.map((r) => [r.method, r.path, r.headers.authorization])).toEqual([["DELETE", "/api/v1/users/00u-all/sessions?oauthTokens=true", `SSWS ${API_TOKEN}`]]);
    expect(fake.liveSessionsOf("00u-all")).toEqual([]);
    expect(fake.liveSessionsOf("00u-other")).toHaveLength(1);
  });

  it("keeps the user's OAuth tokens when revoke_oauth_tokens is false, and percent-encodes a login as the id", async () => {
    fake.users.add("jo+it@example.com");
    await endAll("jo+it@example.com", "okta-keep-tokens");
    expect(fake.requests[0]!.path).toBe("/api/v1/users/jo%2Bit%40example.com/sessions?oauthTokens=false");
  });

  it("lists no sessions: the one item is ALL_SESSIONS", async () => {
    expect(await direct.get("okta")!.provider.listUserSessions({ userId: "00u1", signal: new AbortController().signal })).toEqual({ sessions: [{ sessionId: ALL_SESSIONS, userId: "00u1", active: true }], complete: true });
    expect(fake.requests).toHaveLength(0);
    // As the fan-out sees it, through the wrappers built around the adapter: one ALL_SESSIONS item.
    expect(direct.get("okta")!.provider.endsAllOfUser).toBe(true);
  });
});

const json = jsonAnswer;
const notFoundSession = (id: string) => `Not found: Resource not found: ${id} (Session)`;
const FIXED_ID = "102fixedSessionId";

const ROW_CASES: RowCase[] = [
  { name: "an id with '/': nothing sent", sessionId: "../x", code: Code.InvalidArgument, reason: "SESSION_ID_INVALID", metadata: { upstream_code: "session_id_invalid", upstream_message: "session_id must not contain '/' or '\\'" }, sent: 0 },
  { name: "E0000007 unknown session", sessionId: FIXED_ID, code: Code.NotFound, reason: "SESSION_NOT_FOUND", metadata: { upstream_status: "404", upstream_code: "E0000007", upstream_message: notFoundSession(FIXED_ID) } },
  { name: "E0000011 our API token refused", provider: "okta-wrong-token", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "401", upstream_code: "E0000011", upstream_message: "Invalid token provided" } },
  { name: "E0000004", program: () => fake.answerApiOnce(json(401, oktaError("E0000004", "Authentication failed"))), code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "401", upstream_code: "E0000004", upstream_message: "Authentication failed" } },
  { name: "E0000006 access denied", program: () => fake.answerApiOnce(json(403, oktaError("E0000006", "You do not have permission to perform the requested action"))), code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING", metadata: { upstream_status: "403", upstream_code: "E0000006", upstream_message: "You do not have permission to perform the requested action" } },
  {
    name: "403 with WWW-Authenticate insufficient_scope",
    provider: "okta-oauth",
    program: () => fake.answerApiOnce({ status: 403, raw: "", headers: { "www-authenticate": 'Bearer realm="x", error="insufficient_scope", error_description="The access token provided does not contain the required scopes."' } }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "403", upstream_code: "insufficient_scope", upstream_message: "HTTP 403" },
  },
  {
    name: "401 with WWW-Authenticate invalid_token, again after one refresh",
    provider: "okta-oauth",
    program: () => {
      const a: FakeAnswer = { status: 401, raw: "", headers: { "www-authenticate": 'Bearer error="invalid_token", error_description="The token is not valid."' } };
      fake.answerApiOnce(a, a);
    },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_code: "invalid_token", upstream_message: "HTTP 401" },
    sent: 2,
  },
  {
    name: "E0000047 rate limit, with X-Rate-Limit-Reset",
    program: () => fake.answerApiOnce(json(429, oktaError("E0000047", "API call exceeded rate limit due to too many requests."), { "x-rate-limit-limit": "600", "x-rate-limit-remaining": "0", "x-rate-limit-reset": String(Math.floor(Date.now() / 1000) + 30) })),
    code: Code.Unavailable,
    reason: "UPSTREAM_RATE_LIMITED",
    metadata: { upstream_status: "429", upstream_code: "E0000047", upstream_message: "API call exceeded rate limit due to too many requests." },
    retryable: true,
  },
  { name: "E0000001 validation, with its causes", program: () => fake.answerApiOnce(json(400, oktaError("E0000001", "Api validation failed: sessionId", ["sessionId: The session id is malformed"]))), code: Code.InvalidArgument, reason: "UPSTREAM_REJECTED_ARGUMENT", metadata: { upstream_status: "400", upstream_code: "E0000001", upstream_message: "Api validation failed: sessionId: sessionId: The session id is malformed" } },
  { name: "E0000009 internal error", program: () => fake.answerApiOnce(json(500, oktaError("E0000009", "Internal Server Error"))), code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", metadata: { upstream_status: "500", upstream_code: "E0000009", upstream_message: "Internal Server Error" }, retryable: true },
  { name: "E0000010 read-only mode", program: () => fake.answerApiOnce(json(503, oktaError("E0000010", "Service is in read only mode"))), code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", metadata: { upstream_status: "503", upstream_code: "E0000010", upstream_message: "Service is in read only mode" }, retryable: true },
  { name: "token endpoint invalid_client: an assertion signed with another key", provider: "okta-wrong-key", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "401", upstream_code: "invalid_client", upstream_message: "The client_assertion signature is invalid." }, sent: 0 },
  { name: "token endpoint invalid_scope", provider: "t-scope", program: () => fake.answerTokenOnce(json(400, { error: "invalid_scope", error_description: "The following scopes are not allowed: okta.sessions.manage" })), code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING", metadata: { upstream_status: "400", upstream_code: "invalid_scope", upstream_message: "The following scopes are not allowed: okta.sessions.manage" }, sent: 0 },
  { name: "token endpoint unauthorized_client", provider: "t-unauth", program: () => fake.answerTokenOnce(json(400, { error: "unauthorized_client", error_description: "The client is not authorized to use the provided grant type. Configured grant types: [authorization_code]." })), code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "400", upstream_code: "unauthorized_client", upstream_message: "The client is not authorized to use the provided grant type. Configured grant types: [authorization_code]." }, sent: 0 },
  { name: "token endpoint invalid_dpop_proof", provider: "t-dpop", program: () => fake.answerTokenOnce(json(400, { error: "invalid_dpop_proof", error_description: "The DPoP proof JWT header is missing." })), code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "400", upstream_code: "invalid_dpop_proof", upstream_message: "The DPoP proof JWT header is missing." }, sent: 0 },
  { name: "any other 401 (empty body; SSWS: no refresh)", program: () => fake.answerApiOnce({ status: 401, raw: "" }), code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "401", upstream_message: "HTTP 401" } },
  { name: "any other 403 (an HTML page)", program: () => fake.answerApiOnce({ status: 403, raw: "<html>Forbidden</html>" }), code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING", metadata: { upstream_status: "403", upstream_message: "<html>Forbidden</html>" } },
  { name: "404 without Okta's error body", program: () => fake.answerApiOnce({ status: 404, raw: "Not Found" }), code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "404", upstream_message: "Not Found" } },
];

describe("okta: every row of the mapping table", () => {
  it.each(ROW_CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    c.program?.();
    const provider = c.provider ?? "okta";
    const err = await failure(terminate(c.sessionId ?? sid(), provider));
    rows.expectCall(err, provider, c);
    expect(fake.apiRequests).toHaveLength(c.sent ?? 1);
    if (c.reason === "UPSTREAM_RATE_LIMITED") {
      // X-Rate-Limit-Reset, 30 s ahead in epoch seconds, is RetryInfo's delay.
      expect(retryDelayMs(err)).toBeGreaterThan(28_000);
      expect(retryDelayMs(err)).toBeLessThanOrEqual(30_000);
    }
  });

  it("a user id that could change the path: nothing sent", async () => {
    rows.expectFailure(await rejection(endAll("a/b")), "okta", { code: Code.InvalidArgument, reason: "USER_ID_INVALID", metadata: { upstream_code: "user_id_invalid", upstream_message: "user_id must not contain '/' or '\\'" } });
    rows.expectFailure(await rejection(endAll("")), "okta", { code: Code.InvalidArgument, reason: "USER_ID_INVALID", metadata: { upstream_code: "user_id_invalid", upstream_message: "user_id must not be empty" } });
    expect(fake.requests).toHaveLength(0);
  });

  it("E0000007 (User) for a user-wide end of an unknown user", async () => {
    const want = { code: Code.NotFound, reason: "USER_NOT_FOUND", metadata: { upstream_status: "404", upstream_code: "E0000007", upstream_message: "Not found: Resource not found: 00u-nobody (User)" } };
    rows.expectFailure(await rejection(endAll("00u-nobody")), "okta", want);
  });

  it("has a case for each row", () => {
    expect(rows.missed()).toEqual([]);
  });
});

describe("okta: malformed, reset, slow", () => {
  it("a token answer without access_token is malformed", async () => {
    fake.answerTokenOnce({ body: { token_type: "Bearer", expires_in: 3600 } });
    const err = await failure(terminate(sid(), "t-malformed"));
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("UPSTREAM_MALFORMED_ANSWER");
    expect(fake.apiRequests).toHaveLength(0);
  });

  it("token endpoint 429 with X-Rate-Limit-Reset: RetryInfo waits until the reset, nothing sent to the API", async () => {
    const reset = { "x-rate-limit-limit": "600", "x-rate-limit-remaining": "0", "x-rate-limit-reset": String(Math.floor(Date.now() / 1000) + 30) };
    fake.answerTokenOnce(json(429, oktaError("E0000047", "API call exceeded rate limit due to too many requests."), reset));
    const err = await failure(terminate(sid(), "t-limited"));
    expect([err.code, err.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.Unavailable, "UPSTREAM_RATE_LIMITED"]);
    expect(retryDelayMs(err)).toBeGreaterThan(28_000);
    expect(retryDelayMs(err)).toBeLessThanOrEqual(30_000);
    expect(fake.apiRequests).toHaveLength(0);
  });

  it("a 5xx page that is not JSON is the common 5xx row", async () => {
    fake.answerApiOnce({ status: 502, raw: "<html>Bad Gateway</html>" });
    const err = await failure(terminate(sid(), "t-5xx"));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("UPSTREAM_UNAVAILABLE");
  });

  it("a connection reset mid-answer is UNAVAILABLE, and the service still serves", async () => {
    fake.answerApiOnce({ status: 404, body: oktaError("E0000007", "x".repeat(2000)), resetMidAnswer: true });
    const err = await failure(terminate(sid()));
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("UPSTREAM_CONNECTION_RESET");
    const id = sid();
    fake.addSession("00u1", id);
    expect((await terminate(id)).alreadyTerminated).toBe(false);
  });

  it("an answer slower than the provider's timeout is DEADLINE_EXCEEDED and the request aborted", async () => {
    fake.answerApiOnce({ status: 204, raw: "", delayMs: 1500 });
    const err = await failure(terminate(sid(), "okta-quick"));
    expect(err.code).toBe(Code.DeadlineExceeded);
    await until("the upstream request to be aborted", () => fake.apiRequests[0]?.aborted);
  });
});

describe("okta: ids never change the upstream path", () => {
  const refused = ["../x", "a/b", "a\\b", "..", ".", "a\u0000b", "line\nbreak", "%2F"];
  const accepted = ["?q", "#f", "a b", "ünï", "102AbC_-"];
  const label = (id: string) => [JSON.stringify(id).slice(0, 40), id] as const;

  it.each(refused.map(label))("refused, nothing sent: %s", async (_label, id) => {
    const err = await failure(terminate(id));
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("SESSION_ID_INVALID");
    expect(fake.requests).toEqual([]);
  });

  it("over 200 characters: the API itself refuses session_id before the provider sees it", async () => {
    const err = await failure(terminate("x".repeat(257)));
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("INVALID_ARGUMENT");
    expect(fake.requests).toEqual([]);
  });

  it.each(accepted.map(label))("percent-encoded into the path: %s", async (_label, id) => {
    await terminate(id).catch(() => undefined);
    expect(fake.requests.map((r) => r.path)).toEqual([`/api/v1/sessions/${encodeURIComponent(id)}`]);
  });
});

describe("okta: the access token", () => {
  tokenLifeTests(() => fake, async (provider, n) => {
    const ids = Array.from({ length: n }, () => sid());
    for (const id of ids) fake.addSession("00u1", id);
    await Promise.all(ids.map((id) => terminate(id, provider)));
  });
});

describe("okta: configuration", () => {
  it.each([
    [{ token: "env:OKTA_API_TOKEN", client_id: "x", private_key: "env:OKTA_API_TOKEN" }, "not both"],
    [{}, "required: an API token, or client_id and private_key"],
    [{ client_id: "x" }, "required with client_id"],
    [{ client_id: "x", private_key: "env:OKTA_API_TOKEN" }, "is not a private key"],
  ])("refuses %j", (own, message) => {
    expect(() => parseConfig({ providers: [{ name: "o", type: "okta", base_url: "https://example.okta.com", ...own }] })).toThrow(message);
  });
});

describe("okta: secrets", () => {
  it("cuts the client assertion out of a token endpoint error that echoes it: no part of it in the error or the logs", async () => {
    let sent = "";
    fake.answerTokenOnce((r) => {
      sent = r.form!["client_assertion"]!;
      return json(400, { error: "invalid_client", error_description: `client_assertion ${sent} was refused; signature ${sent.split(".")[2]}` });
    });
    const err = await failure(terminate(sid(), "t-echo"));
    const info = err.findDetails(ErrorInfoSchema)[0]!;
    expect(info.metadata["upstream_message"]).toBe("client_assertion [secret] was refused; signature [secret]");
    const [, claims, signature] = sent.split(".");
    for (const part of [sent, claims!, signature!]) {
      for (const text of [err.rawMessage, JSON.stringify(info.metadata), svc.logText()]) expect(text).not.toContain(part);
    }
  });

  it("never shows the API token or an access token in the logs or in an error", () => {
    expect(fake.issued.length).toBeGreaterThan(3);
    for (const secret of [API_TOKEN, ...fake.issued]) {
      for (const text of [svc.logText(), ...errorTexts]) expect(text).not.toContain(secret);
    }
  });
});
