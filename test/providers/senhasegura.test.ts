import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { OAuthTokenCache } from "../../src/providers/oauth-token-cache.js";
import type { Provider } from "../../src/providers/provider.js";
import { buildProviders } from "../../src/providers/registry.js";
import { classify, ProviderFailure } from "../../src/status/provider-failure.js";
import { senhaseguraTable } from "../../src/status/senhasegura.js";
import type { MappingRow } from "../../src/status/table.js";
import { SqliteStores } from "../../src/store/sqlite.js";
import type { FakeAnswer } from "../fakes/http-fake.js";
import { envelope, FakeSenhasegura, type RemoteSession } from "../fakes/senhasegura.js";
import { expectEndedNow } from "../helpers/ended-now.js";
import { expectMapped, keepErrorTexts, type MappedFailure } from "../helpers/errors.js";
import { bearer, grpcClient, startTestService, type TestService } from "../helpers/service.js";
import { tokenLifeTests } from "../helpers/token-life.js";
import { until } from "../helpers/wait.js";

// Seed 003, verbatim: the successful answer of DEL /api/pam/session/drop/{session_id}.
const SEED_SUCCESS = `{
    "code": 200,
    "response": {
        "status": 200,
        "message": "Sessão interrompida com sucesso",
        "error": false,
        "error_code": 0,
        "detail": "",
        "mensagem": "Sessão interrompida com sucesso",
        "erro": false,
        "cod_erro": 0
    }
}`;
// Seed 003, verbatim: the messages of its error answers.
const SEED = {
  resourceSubNotFound: "Resource sub not found",
  unexpected: "Unexpected error.",
  notAuthorized: "You are not authorized to access this resource.",
  dropping: "An error occurred while droping session.",
  clientAuth: "Client authentication failed.",
  signature: "Invalid signature",
  noRoute: "No route matched with those values.",
  timedOut: "Request timed out.",
};

const CLIENT_ID = "session-control-a2a";
const SECRET = `ss-secret-${randomUUID()}`;
const WRONG_SECRET = `ss-wrong-${randomUUID()}`;
const PREFIX = "/api/pam/session/drop";
const INVALID_ID_MESSAGE = "session_id must be a senhasegura session hash: 1 to 128 letters, digits, '_' or '-'";

let fake: FakeSenhasegura;
let oldFake: FakeSenhasegura;
let svc: TestService;
let client: Client<typeof SessionControl>;
/** failure(): the ConnectError of a call that must fail; errorTexts: what every error showed, searched for secrets at the end. */
const { failure, texts: errorTexts } = keepErrorTexts();

beforeAll(async () => {
  fake = await FakeSenhasegura.start({ clientId: CLIENT_ID, clientSecret: SECRET, dropSuccess: SEED_SUCCESS });
  oldFake = await FakeSenhasegura.start({ clientId: CLIENT_ID, clientSecret: SECRET, dropSuccess: SEED_SUCCESS, dropPrefix: "/iso/session/drop" });
  process.env["SS_SECRET"] = SECRET;
  process.env["SS_WRONG_SECRET"] = WRONG_SECRET;
  // One attempt, and a breaker that never opens here: each answer is seen exactly once.
  const common = { type: "senhasegura", base_url: fake.url, client_id: CLIENT_ID, client_secret: "env:SS_SECRET", max_attempts: 1, breaker_failures: 1000, timeout_ms: 2000 };
  svc = await startTestService({}, {
    providers: [
      { ...common, name: "vault" },
      { ...common, name: "vault-wrong-secret", client_secret: "env:SS_WRONG_SECRET" },
      { ...common, name: "vault-old-prefix", path_prefix: "/iso/session/drop" },
      { ...common, name: "vault-old-release", base_url: oldFake.url, path_prefix: "/iso/session/drop/" },
      { ...common, name: "vault-quick", timeout_ms: 300 },
      // Providers whose token cache each test starts empty.
      ...["t-cache", "t-flight", "t-expiry", "t-401", "t-no-expiry", "t-echo"].map((name) => ({ ...common, name })),
    ],
    default_provider: "vault",
  });
  client = grpcClient(svc);
});
afterAll(async () => {
  await svc.stop();
  await fake.close();
  await oldFake.close();
});
beforeEach(() => {
  fake.reset();
  oldFake.reset();
});

const admin = () => ({ headers: bearer(svc.keys.admin) });
const hash = () => randomBytes(20).toString("hex");

/** A live session the fake knows, in the documented shape. */
function liveSession(user: string, sessionId = hash()): RemoteSession {
  return { id: String(fake.sessions.length + 10), user, origin_ip: "10.1.2.3", credential: "svc-oracle", device: "10.9.8.7:22", protocol: "ssh", proxy: "Web Proxy", session_id: sessionId, start: "2025-03-01 09:00:00", end: null, time: null, prevent_purge: "No", request: null, ITSM: null };
}

function terminate(sessionId: string, provider = "vault", extra: { requestId?: string; options?: Record<string, string> } = {}) {
  return client.terminate({ sessionId, provider, ...extra }, admin());
}

describe("senhasegura: success", () => {
  it("gets a token by client credentials, drops the session with it, and answers OK on seed 003's answer", async () => {
    const id = hash();
    fake.sessions.push(liveSession("alice", id));
    expect(JSON.parse(SEED_SUCCESS)).toEqual(envelope(200, "Sessão interrompida com sucesso"));
    const before = Date.now();
    const res = await terminate(id);

    expectEndedNow(res, "vault", before);

    expect(fake.requests).toHaveLength(2);
    const [tokenReq, drop] = fake.requests;
    expect(tokenReq!.method).toBe("POST");
    expect(tokenReq!.path).toBe("/iso/oauth2/token");
    expect(tokenReq!.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(tokenReq!.headers["accept"]).toBe("application/json");
    expect(tokenReq!.headers["authorization"]).toBeUndefined();
    expect(tokenReq!.form).toEqual({ grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: SECRET });

    expect(drop!.method).toBe("DELETE");
    expect(drop!.path).toBe(`${PREFIX}/${id}`);
    expect(drop!.headers["authorization"]).toBe(`Bearer ${fake.issued.at(-1)}`);
    expect(drop!.headers["accept"]).toBe("application/json");
    expect(drop!.headers["content-type"]).toBeUndefined();
    expect(drop!.text).toBe("");
    expect(fake.sessions[0]!.end).not.toBeNull();
  });

  it("drops at the older releases' path prefix when configured (trailing '/' ignored)", async () => {
    const id = hash();
    oldFake.sessions.push({ ...liveSession("alice", id) });
    const res = await terminate(id, "vault-old-release");
    expect(res.provider).toBe("vault-old-release");
    expect(oldFake.apiRequests.map((r) => [r.method, r.path])).toEqual([["DELETE", `/iso/session/drop/${id}`]]);
  });

  it("answers OK already_terminated when senhasegura no longer knows a session this service dropped", async () => {
    const id = hash();
    fake.sessions.push(liveSession("alice", id));
    expect((await terminate(id)).alreadyTerminated).toBe(false);
    const again = await terminate(id);
    expect(again.alreadyTerminated).toBe(true);
    // The fake answered the second drop with seed 003's error: the session is no longer there to drop.
    expect(fake.apiRequests).toHaveLength(2);

    const never = await failure(terminate(hash()));
    expect(never.code).toBe(Code.NotFound);
  });

  it("answers a repeated request_id from the audit trail without a second drop", async () => {
    const id = hash();
    fake.sessions.push(liveSession("alice", id));
    const requestId = randomUUID();
    await terminate(id, "vault", { requestId });
    const replay = await terminate(id, "vault", { requestId });
    expect(replay.alreadyTerminated).toBe(false);
    expect(fake.apiRequests).toHaveLength(1);
  });
});

describe("senhasegura: options and permission", () => {
  it("refuses any option before a request: it takes none", async () => {
    const err = await failure(terminate(hash(), "vault", { options: { reason: "x" } }));
    expect(err.code).toBe(Code.InvalidArgument);
    const violations = err.findDetails(BadRequestSchema)[0]!.fieldViolations;
    expect(violations.map((v) => [v.field, v.description])).toEqual([['options["reason"]', "unknown option for this provider; it takes none"]]);
    expect(fake.requests).toHaveLength(0);
  });

  it("does not verify session tokens: a caller without session.delete is refused before a request", async () => {
    const err = await failure(client.terminate({ sessionId: hash(), provider: "vault", sessionToken: "some-token" }, { headers: bearer(svc.keys.nobody) }));
    expect(err.code).toBe(Code.PermissionDenied);
    expect(fake.requests).toHaveLength(0);
  });
});

interface RowCase extends MappedFailure {
  name: string;
  provider?: string;
  sessionId?: string;
  program?: () => void;
  metadata: Record<string, string>;
  /** Drop requests the fake must have seen; default 1. */
  drops?: number;
}

const ROW_CASES: RowCase[] = [
  {
    name: "an id that is not a hash: nothing is sent",
    sessionId: "../x",
    code: Code.InvalidArgument,
    reason: "SESSION_ID_INVALID",
    metadata: { upstream_code: "session_id_invalid", upstream_message: INVALID_ID_MESSAGE },
    drops: 0,
  },
  {
    name: 'token endpoint 401 "Client authentication failed." (wrong client_secret)',
    provider: "vault-wrong-secret",
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_code: "invalid_client", upstream_message: SEED.clientAuth },
    drops: 0,
  },
  {
    name: 'API 401 "Invalid signature", again after one token refresh',
    program: () => fake.answerApiOnce({ status: 401, body: { message: SEED.signature } }, { status: 401, body: { message: SEED.signature } }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_message: SEED.signature },
    drops: 2,
  },
  {
    name: 'HTTP 500 "You are not authorized to access this resource."',
    program: () => fake.answerApiOnce({ status: 500, body: envelope(500, SEED.notAuthorized) }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "500", upstream_code: "500", upstream_message: SEED.notAuthorized },
  },
  {
    name: 'HTTP 500 "An error occurred while droping session." (the fake knows no such live session)',
    code: Code.NotFound,
    reason: "SESSION_NOT_FOUND",
    metadata: { upstream_status: "500", upstream_code: "500", upstream_message: SEED.dropping },
  },
  {
    name: 'HTTP 404 "No route matched with those values." from the gateway',
    program: () => fake.answerApiOnce({ status: 404, body: { message: SEED.noRoute } }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "404", upstream_message: SEED.noRoute },
  },
  {
    name: 'HTTP 404 "Resource sub not found" (path_prefix of another release)',
    provider: "vault-old-prefix",
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "404", upstream_code: "404", upstream_message: SEED.resourceSubNotFound },
  },
  {
    name: 'HTTP 504 "Request timed out." (not the common 5xx row)',
    program: () => fake.answerApiOnce({ status: 504, body: { message: SEED.timedOut } }),
    code: Code.DeadlineExceeded,
    reason: "UPSTREAM_TIMEOUT",
    metadata: { upstream_status: "504", upstream_message: SEED.timedOut },
    retryable: true,
  },
  {
    name: 'HTTP 500 "Unexpected error."',
    program: () => fake.answerApiOnce({ status: 500, body: envelope(500, SEED.unexpected, "Erro inesperado.") }),
    code: Code.Unavailable,
    reason: "UPSTREAM_UNAVAILABLE",
    metadata: { upstream_status: "500", upstream_code: "500", upstream_message: `${SEED.unexpected} / Erro inesperado.` },
    retryable: true,
  },
  {
    name: "HTTP 401 with an empty body, again after one token refresh",
    program: () => fake.answerApiOnce({ status: 401, raw: "" }, { status: 401, raw: "" }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_message: "HTTP 401" },
    drops: 2,
  },
  {
    name: "HTTP 403 with an HTML page",
    program: () => fake.answerApiOnce({ status: 403, raw: "<html>Forbidden</html>" }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "403", upstream_message: "<html>Forbidden</html>" },
  },
  {
    name: "HTTP 404 in plain text",
    program: () => fake.answerApiOnce({ status: 404, raw: "Not Found" }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "404", upstream_message: "Not Found" },
  },
];

/** The rows of senhasegura's table that a case has driven. */
const rowsHit = new Set<MappingRow>();

/** The upstream answer, read back from the ErrorInfo metadata. */
function answerOf(metadata: Record<string, string>) {
  return {
    message: metadata["upstream_message"]!,
    ...(metadata["upstream_code"] !== undefined && { code: metadata["upstream_code"] }),
    ...(metadata["upstream_status"] !== undefined && { httpStatus: Number(metadata["upstream_status"]) }),
  };
}

/** Checks the failure of `p` and notes the row of the table that mapped it. */
async function expectRow(p: Promise<unknown>, provider: string, c: MappedFailure & { metadata: Record<string, string> }): Promise<void> {
  expectMapped(await failure(p), provider, c);
  rowsHit.add(classify(answerOf(c.metadata), senhaseguraTable));
}

describe("senhasegura: every row of the mapping table", () => {
  it.each(ROW_CASES.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    c.program?.();
    const provider = c.provider ?? "vault";
    await expectRow(terminate(c.sessionId ?? hash(), provider), provider, c);
    const drops = fake.apiRequests.filter((r) => r.method === "DELETE");
    expect(drops).toHaveLength(c.drops ?? 1);
    // Refreshed once after the first 401, never looping: two different tokens.
    if (c.drops === 2) expect(drops[0]!.headers.authorization).not.toBe(drops[1]!.headers.authorization);
  });

  it("has a case for each row", () => {
    expect(senhaseguraTable.filter((r) => !rowsHit.has(r)).map((r) => r.answer)).toEqual([]);
  });
});

describe("senhasegura: answers told by the body as well as the status", () => {
  const ok200 = (body: unknown): FakeAnswer => ({ body });
  it.each([
    [
      "HTTP 200, response.error true, the session is not there",
      ok200(envelope(500, SEED.dropping)),
      { code: Code.NotFound, reason: "SESSION_NOT_FOUND", metadata: { upstream_status: "200", upstream_code: "500", upstream_message: SEED.dropping } },
    ],
    [
      "HTTP 200, only erro true and the Portuguese field",
      ok200({ code: 200, response: { status: 200, message: "", error: false, error_code: 0, detail: "", mensagem: SEED.notAuthorized, erro: true, cod_erro: 0 } }),
      { code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING", metadata: { upstream_status: "200", upstream_message: SEED.notAuthorized } },
    ],
    [
      "HTTP 200, only cod_erro set and the message in detail",
      ok200({ code: 200, response: { status: 200, message: "", error: false, error_code: 0, detail: SEED.unexpected, mensagem: "", erro: false, cod_erro: 7 } }),
      { code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", metadata: { upstream_status: "200", upstream_code: "7", upstream_message: SEED.unexpected }, retryable: true },
    ],
    [
      "HTTP 200 with a top-level message and response.error true",
      ok200({ message: SEED.signature, response: { error: true } }),
      { code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED", metadata: { upstream_status: "200", upstream_message: SEED.signature } },
    ],
    [
      "HTTP 200, response.error true, a message no row knows",
      ok200(envelope(400, "Sessão não encontrada no cofre")),
      { code: Code.Unknown, reason: "UPSTREAM_UNEXPECTED_ANSWER", metadata: { upstream_status: "200", upstream_code: "400", upstream_message: "Sessão não encontrada no cofre" } },
    ],
    [
      "HTTP 200 with a body that is not JSON",
      { raw: "<html>ok</html>" },
      { code: Code.Unknown, reason: "UPSTREAM_MALFORMED_ANSWER", metadata: { upstream_status: "200", upstream_code: "transport.malformed", upstream_message: "HTTP 200 with a body that is not senhasegura's {code, response} envelope" } },
    ],
    [
      "HTTP 502 with a message no row knows: the common 5xx row",
      { status: 502, raw: "Bad Gateway" },
      { code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", metadata: { upstream_status: "502", upstream_message: "Bad Gateway" }, retryable: true },
    ],
  ] as const)("%s", async (_name, answer, expected) => {
    fake.answerApiOnce(answer);
    await expectRow(terminate(hash()), "vault", expected);
  });

  it("a connection reset mid-answer is UNAVAILABLE, and the service still serves", async () => {
    fake.answerApiOnce({ body: envelope(200, "x".repeat(2000)), resetMidAnswer: true });
    const err = await failure(terminate(hash()));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("UPSTREAM_CONNECTION_RESET");
    const id = hash();
    fake.sessions.push(liveSession("alice", id));
    expect((await terminate(id)).alreadyTerminated).toBe(false);
  });

  it("an answer slower than the provider's timeout is DEADLINE_EXCEEDED and the request is aborted", async () => {
    await terminate(hash(), "vault-quick").catch(() => undefined); // a cached token first
    fake.reset();
    fake.answerApiOnce({ body: JSON.parse(SEED_SUCCESS), delayMs: 1500 });
    const err = await failure(terminate(hash(), "vault-quick"));
    expect(err.code).toBe(Code.DeadlineExceeded);
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe("UPSTREAM_TIMEOUT");
    await until("the upstream request to be aborted", () => fake.apiRequests[0]?.aborted);
    expect(fake.apiRequests[0]?.aborted).toBe(true);
  });

  it("a token answer without access_token is malformed", async () => {
    fake.answerTokenOnce({ body: { token_type: "Bearer", expires_in: 3600 } });
    await expectRow(terminate(hash(), "t-echo"), "t-echo", {
      code: Code.Unknown,
      reason: "UPSTREAM_MALFORMED_ANSWER",
      metadata: { upstream_status: "200", upstream_code: "transport.malformed", upstream_message: "HTTP 200 with a body that is not {access_token, expires_in, token_type}" },
    });
    expect(fake.apiRequests).toHaveLength(0);
  });
});

describe("senhasegura: ids never change the upstream path", () => {
  const ids = ["../x", "a/b", "%2F", "?q", "#f", "a b", " ", "ünïcødé", "会话", "..", ".", "a\u0000b", "line\nbreak", "x".repeat(129), "abc-DEF_123", "A".repeat(128)];
  it.each(ids.map((id) => [JSON.stringify(id).slice(0, 40), id] as const))("%s", async (_label, id) => {
    const before = fake.requests.length;
    const err = await terminate(id).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    const sent = fake.requests.slice(before);
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
      expect(err?.code).toBe(Code.InvalidArgument);
      expect(err!.findDetails(ErrorInfoSchema)[0]!.reason).toBe("SESSION_ID_INVALID");
      expect(sent).toEqual([]);
      return;
    }
    const drops = sent.filter((r) => r.method === "DELETE");
    expect(drops).toHaveLength(1);
    expect(drops[0]!.path).toBe(`${PREFIX}/${encodeURIComponent(id)}`);
  });
});

describe("senhasegura: the access token", () => {
  /** Drops `n` live sessions of the fake at once through `provider`. */
  async function drops(provider: string, n: number): Promise<void> {
    const ids = Array.from({ length: n }, () => hash());
    fake.sessions.push(...ids.map((id) => liveSession("alice", id)));
    const results = await Promise.all(ids.map((id) => terminate(id, provider)));
    for (const r of results) expect(r.alreadyTerminated).toBe(false);
  }
  tokenLifeTests(() => fake, drops);

  it("a call still waiting asks again itself when the call that started the shared request gives up", async () => {
    let fetches = 0;
    const cache = new OAuthTokenCache(
      (signal) =>
        new Promise((resolve, reject) => {
          const n = ++fetches;
          if (n === 1) signal.addEventListener("abort", () => reject(signal.reason as Error));
          else resolve({ value: `token-${n}`, expiresInSeconds: 60 });
        }),
    );
    const starter = new AbortController();
    const first = cache.get(starter.signal);
    const waiting = cache.get(new AbortController().signal);
    starter.abort(new Error("caller went away"));
    await expect(first).rejects.toThrow("caller went away");
    await expect(waiting).resolves.toBe("token-2");
    expect(fetches).toBe(2);
    await expect(cache.get(new AbortController().signal)).resolves.toBe("token-2");
    expect(fetches).toBe(2);
  });
});

describe("senhasegura: listUserSessions", () => {
  let dir: string;
  let store: SqliteStores;
  let provider: Provider;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ss-list-"));
    store = SqliteStores.open(dir);
    const config = parseConfig({ providers: [{ name: "vault-list", type: "senhasegura", base_url: fake.url, client_id: CLIENT_ID, client_secret: "env:SS_SECRET", max_attempts: 1 }] });
    provider = buildProviders(config.providers, store.sessions, () => {})[0]!;
  });
  afterAll(async () => {
    await provider.close?.();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // One GET lists every session: the listing is always complete.
  const list = (userId: string) => provider.listUserSessions({ userId, signal: new AbortController().signal }).then((l) => (expect(l.complete).toBe(true), l.sessions));

  it("lists the user's sessions by their session_id hash; a session with an end is over", async () => {
    const live = liveSession("alice");
    const ended = { ...liveSession("alice"), end: "2025-03-01 09:30:00", time: "00:30:00" };
    const zeroEnd = { ...liveSession("alice"), end: "0000-00-00 00:00:00" };
    fake.sessions.push(live, ended, zeroEnd, liveSession("bob"), { ...liveSession("alice"), session_id: "" });
    expect(await list("alice")).toEqual([
      { sessionId: live.session_id, userId: "alice", active: true },
      { sessionId: ended.session_id, userId: "alice", active: false },
      { sessionId: zeroEnd.session_id, userId: "alice", active: true },
    ]);
    const [req] = fake.apiRequests;
    expect(req!.method).toBe("GET");
    expect(req!.path).toBe("/api/pam/session/remotesessions");
    expect(req!.headers.authorization).toBe(`Bearer ${fake.issued.at(-1)}`);

    // The listed id is the one the drop endpoint takes.
    expect((await terminate(live.session_id)).alreadyTerminated).toBe(false);
    expect(await list("alice")).toContainEqual({ sessionId: live.session_id, userId: "alice", active: false });
  });

  it("reads the nested shape some documentation shows", async () => {
    const inner = liveSession("carol");
    fake.answerApiOnce({ body: { ...envelope(200, ""), remote_sessions: [{ ...envelope(200, ""), tenant: "senhasegura", remote_sessions: [inner] }] } });
    expect(await list("carol")).toEqual([{ sessionId: inner.session_id, userId: "carol", active: true }]);
  });

  it("maps failures through the same table", async () => {
    fake.answerApiOnce({ status: 500, body: envelope(500, SEED.notAuthorized) });
    const err = await list("alice").then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderFailure);
    expect((err as ProviderFailure).row.reason).toBe("PROVIDER_PERMISSION_MISSING");

    fake.answerApiOnce({ body: envelope(200, "") });
    const malformed = (await list("alice").catch((e: unknown) => e)) as ProviderFailure;
    expect(malformed.answer).toEqual({ httpStatus: 200, code: "transport.malformed", message: "HTTP 200 with a body that is not {remote_sessions: [...]}" });
  });
});

describe("senhasegura: secrets", () => {
  it("cuts our secret and token out of upstream messages that echo them", async () => {
    fake.answerTokenOnce({ status: 400, body: { error: "invalid_request", message: `client_secret ${SECRET} is not allowed here` } });
    const err = await failure(terminate(hash(), "t-echo"));
    expect(err.findDetails(ErrorInfoSchema)[0]!.metadata["upstream_message"]).toBe("client_secret [secret] is not allowed here");

    await drops1();
    const token = fake.issued.at(-1)!;
    fake.answerApiOnce({ status: 500, body: envelope(500, `Unexpected error. token=${token}`) });
    const err2 = await failure(terminate(hash(), "t-echo"));
    expect(err2.findDetails(ErrorInfoSchema)[0]!.metadata["upstream_message"]).toBe("Unexpected error. token=[secret]");
  });

  it("never shows the client secret or an access token in the logs or in an error", async () => {
    expect(fake.issued.length).toBeGreaterThan(5);
    const texts = [svc.logText(), ...errorTexts];
    for (const secret of [SECRET, WRONG_SECRET, ...fake.issued, ...oldFake.issued]) {
      for (const text of texts) expect(text).not.toContain(secret);
    }
  });
});

/** One successful drop through t-echo, so that it holds a token. */
async function drops1(): Promise<void> {
  const id = hash();
  fake.sessions.push(liveSession("alice", id));
  await terminate(id, "t-echo");
}
