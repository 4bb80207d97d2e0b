import { randomUUID } from "node:crypto";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { Secret } from "../../src/config/secret.js";
import { LuckyMonacoProvider } from "../../src/providers/luckymonaco.js";
import { classify } from "../../src/status/provider-failure.js";
import { luckyMonacoTable } from "../../src/status/luckymonaco.js";
import type { FakeAnswer } from "../fakes/http-fake.js";
import { FakeLuckyMonaco } from "../fakes/luckymonaco.js";
import { expectEndedNow } from "../helpers/ended-now.js";
import { expectMapped, keepErrorTexts } from "../helpers/errors.js";
import { bearer, callLinesWritten, grpcClient, startTestService, type TestService } from "../helpers/service.js";

// Seed 000, verbatim: the example request body and the example successful answer.
const SEED_REQUEST = `{
    "secureLogin" : "<partnerId>",
    "userId": "tester",
    "token" : "<token>",
    "uuid": "<uuid>"
}`;
const SEED_SUCCESS = `{
  "error": 0,
  "description": "Success"
}`;

const TOKEN = `lm-token-${randomUUID()}`;
const PARTNER = "partner-monaco-7";

let fake: FakeLuckyMonaco;
let svc: TestService;
let client: Client<typeof SessionControl>;
/** failure(): the ConnectError of a call that must fail; errorTexts: what every error showed, searched for the token at the end. */
const { failure, texts: errorTexts } = keepErrorTexts();

beforeAll(async () => {
  fake = await FakeLuckyMonaco.start();
  process.env["LM_TOKEN"] = TOKEN;
  svc = await startTestService({}, {
    providers: [
      { name: "local", type: "local" },
      // One attempt, and a breaker that never opens here: each answer is seen exactly once.
      { name: "casino", type: "luckymonaco", base_url: fake.url, secure_login: PARTNER, token: "env:LM_TOKEN", max_attempts: 1, breaker_failures: 1000, timeout_ms: 2000 },
    ],
    default_provider: "casino",
  });
  client = grpcClient(svc);
});
afterAll(async () => {
  await svc.stop();
  await fake.close();
});
beforeEach(() => fake.reset());

const admin = () => ({ headers: bearer(svc.keys.admin) });

describe("luckymonaco: success", () => {
  it("sends seed 000's request field by field and answers OK on seed 000's answer", async () => {
    fake.answerOnce({ raw: SEED_SUCCESS });
    const requestId = randomUUID();
    const before = Date.now();
    const res = await client.terminate({ sessionId: "table-42", userId: "tester", requestId, reason: "fraud check" }, admin());

    expectEndedNow(res, "casino", before);

    expect(fake.requests).toHaveLength(1);
    const [req] = fake.requests;
    expect(req!.method).toBe("POST");
    expect(req!.path).toBe("/V4/CloseSession");
    expect(req!.headers["content-type"]).toBe("application/json");
    expect(req!.headers["accept"]).toBe("application/json");
    expect(req!.headers["authorization"]).toBeUndefined();
    // Authentication is in the body: our partner id and token, as in the seed.
    const expected: unknown = JSON.parse(SEED_REQUEST.replace("<partnerId>", PARTNER).replace("<token>", TOKEN).replace("<uuid>", requestId));
    expect(req!.body).toEqual(expected);
    expect(Object.keys(req!.body as object)).toEqual(["secureLogin", "userId", "token", "uuid"]);
  });

  it("takes the code as a string too, and assigns a uuid when the request has no request_id", async () => {
    fake.answerOnce({ body: { error: "0", description: "Success" } });
    const res = await client.terminate({ sessionId: "table-43", userId: "player 1/ü" }, admin());
    expect(res.alreadyTerminated).toBe(false);
    const body = fake.requests[0]!.body as Record<string, unknown>;
    expect(body["userId"]).toBe("player 1/ü");
    expect(body["uuid"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(fake.requests[0]!.path).toBe("/V4/CloseSession");
  });

  it.each(["../x", "a/b", "%2F", "?q", "#f", "two words", "joueur-é☃"])("keeps the path fixed and sends the ids as they are: %j", async (id) => {
    await client.terminate({ sessionId: id, userId: id }, admin());
    expect(fake.requests.map((r) => [r.method, r.path])).toEqual([["POST", "/V4/CloseSession"]]);
    expect((fake.requests[0]!.body as Record<string, unknown>)["userId"]).toBe(id);
  });

  it("adds gameId and clearHistory (as a number) when given", async () => {
    await client.terminate({ sessionId: "table-44", userId: "tester", options: { gameId: "vs20doghouse", clearHistory: "1" } }, admin());
    await client.terminate({ sessionId: "table-45", userId: "tester", options: { clearHistory: "0" } }, admin());
    const [first, second] = fake.requests.map((r) => r.body as Record<string, unknown>);
    expect(first).toMatchObject({ secureLogin: PARTNER, userId: "tester", token: TOKEN, gameId: "vs20doghouse", clearHistory: 1 });
    expect(second!["clearHistory"]).toBe(0);
    expect(second).not.toHaveProperty("gameId");
  });
});

describe("luckymonaco: options and user_id", () => {
  it.each([
    [{ sessionLimit: "1" }, 'options["sessionLimit"]', /unknown option for this provider; known: gameId, clearHistory/],
    [{ clearHistory: "2" }, 'options["clearHistory"]', /must be "0" or "1"/],
    [{ clearHistory: "true" }, 'options["clearHistory"]', /must be "0" or "1"/],
    [{ gameId: "" }, 'options["gameId"]', /must not be empty/],
  ])("refuses options %j before any request", async (options, field, description) => {
    const err = await failure(client.terminate({ sessionId: "table-50", userId: "tester", options }, admin()));
    expect(err.code).toBe(Code.InvalidArgument);
    const violations = err.findDetails(BadRequestSchema)[0]!.fieldViolations;
    expect(violations.map((v) => v.field)).toEqual([field]);
    expect(violations[0]!.description).toMatch(description);
    expect(fake.requests).toHaveLength(0);
  });

  it("refuses a request without user_id before any request: USER_ID_REQUIRED", async () => {
    const err = await failure(client.terminate({ sessionId: "table-51" }, admin()));
    expect(err.code).toBe(Code.InvalidArgument);
    const info = err.findDetails(ErrorInfoSchema)[0]!;
    expect(info.reason).toBe("USER_ID_REQUIRED");
    expect(info.domain).toBe("casino");
    expect(info.metadata).toEqual({ upstream_code: "user_id_missing", upstream_message: "user_id is required: LuckyMonaco ends the sessions of a player" });
    expect(fake.requests).toHaveLength(0);
  });
});

interface RowCase {
  name: string;
  answer: FakeAnswer;
  code: Code;
  reason: string;
  metadata: Record<string, string>;
  retryable?: boolean;
}

/** A case of an HTTP 200 whose body says `{error, description}`; `upstreamCode` is the error as the metadata reports it. */
function coded(name: string, error: number | string, upstreamCode: string, description: string, code: Code, reason: string, retryable?: true): RowCase {
  return { name, answer: { body: { error, description } }, code, reason, metadata: { upstream_status: "200", upstream_code: upstreamCode, upstream_message: description }, retryable };
}

/** A case of an HTTP error status whose body says `{errors: {code, message}}`. */
function errors(name: string, status: number, upstreamCode: string, message: string, code: Code, reason: string, retryable?: true): RowCase {
  return { name, answer: { status, body: { errors: { code: upstreamCode, message } } }, code, reason, metadata: { upstream_status: String(status), upstream_code: upstreamCode, upstream_message: `${upstreamCode}: ${message}` }, retryable };
}

const ROW_CASES: RowCase[] = [
  ...([[1, "1"], ["21", "21"], [57, "57"], [" 64 ", "64"], [99, "99"]] as const).map(([error, code]) =>
    coded(`error ${JSON.stringify(error)}: bad parameters`, error, code, "Invalid parameters", Code.InvalidArgument, "INVALID_ARGUMENT"),
  ),
  ...([[12, "12"], ["22", "22"], [62, "62"]] as const).map(([error, code]) => coded(`error ${JSON.stringify(error)}: player not found`, error, code, "Player not found", Code.NotFound, "SESSION_NOT_FOUND")),
  coded("error 54: wrong secureLogin", 54, "54", "Wrong secureLogin or password", Code.FailedPrecondition, "PROVIDER_CREDENTIALS_REJECTED"),
  coded('error "55": invalid session', "55", "55", "Invalid session id", Code.NotFound, "SESSION_NOT_FOUND"),
  coded("error 56: player frozen", 56, "56", "Player is frozen", Code.FailedPrecondition, "PLAYER_BLOCKED"),
  coded("error 401: unauthorized", 401, "401", "Unauthorized", Code.FailedPrecondition, "PROVIDER_CREDENTIALS_REJECTED"),
  coded('error "404": not found', "404", "404", "Not found", Code.NotFound, "SESSION_NOT_FOUND"),
  coded("error 998 told by its description: player not found or logged out", 998, "998", "Player not found or logged out", Code.NotFound, "SESSION_NOT_FOUND"),
  coded("error 998: internal error, retry expected", "998", "998", "Internal error", Code.Unavailable, "UPSTREAM_UNAVAILABLE", true),
  coded("error 999: internal error, no retry", 999, "999", "Internal error. Do not retry", Code.Internal, "UPSTREAM_INTERNAL_ERROR"),
  errors("HTTP 400 with errors.code V.*: validation", 400, "V.02", "userId must not be empty", Code.InvalidArgument, "INVALID_ARGUMENT"),
  errors("HTTP 503 with errors.code G.*: generic, retried", 503, "G.01", "Service temporarily unavailable", Code.Unavailable, "UPSTREAM_UNAVAILABLE", true),
  errors("HTTP 400 with errors.code G.*: generic even on a 4xx", 400, "G.01", "Request could not be processed", Code.Unavailable, "UPSTREAM_UNAVAILABLE", true),
  coded("an undocumented code: unmapped", 77, "77", "Something new", Code.Unknown, "UPSTREAM_UNEXPECTED_ANSWER"),
];

describe("luckymonaco: every row of the mapping table", () => {
  const covered = new Set<number>();

  it.each(ROW_CASES)("$name", async (c) => {
    fake.answerOnce(c.answer);
    const err = await failure(client.terminate({ sessionId: `row-${randomUUID()}`, userId: "tester" }, admin()));
    const info = expectMapped(err, "casino", c);
    expect(fake.requests).toHaveLength(1);
    // Which table row gave this answer, from the answer the metadata reports.
    const answer = { httpStatus: Number(info.metadata["upstream_status"]), code: info.metadata["upstream_code"]!, message: info.metadata["upstream_message"]! };
    covered.add(luckyMonacoTable.indexOf(classify(answer, luckyMonacoTable)));
  });

  it("the cases above and USER_ID_REQUIRED cover every row", () => {
    covered.add(luckyMonacoTable.findIndex((r) => r.reason === "USER_ID_REQUIRED"));
    expect([...covered].filter((i) => i >= 0).sort((a, b) => a - b)).toEqual(luckyMonacoTable.map((_, i) => i));
  });
});

describe("luckymonaco: answers outside the contract", () => {
  it.each([
    ["HTTP 200 that is not JSON", { raw: "<html>maintenance</html>" }, Code.Unknown, "UPSTREAM_MALFORMED_ANSWER"],
    ["HTTP 200 JSON without an error code", { body: { description: "Success" } }, Code.Unknown, "UPSTREAM_MALFORMED_ANSWER"],
    ["HTTP 502 that is not JSON", { status: 502, raw: "Bad Gateway" }, Code.Unavailable, "UPSTREAM_UNAVAILABLE"],
    ["HTTP 403 that is not JSON", { status: 403, raw: "Forbidden" }, Code.Unknown, "UPSTREAM_UNEXPECTED_ANSWER"],
  ] as const)("%s", async (_name, answer, code, reason) => {
    fake.answerOnce(answer);
    const err = await failure(client.terminate({ sessionId: `odd-${randomUUID()}`, userId: "tester" }, admin()));
    expect(err.code).toBe(code);
    expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe(reason);
  });
});

describe("luckymonaco: sessions this service already ended", () => {
  it("answers OK already_terminated when the player is gone after we ended the session", async () => {
    const sessionId = `ended-${randomUUID()}`;
    const first = await client.terminate({ sessionId, userId: "tester" }, admin());
    expect(first.alreadyTerminated).toBe(false);
    fake.answerOnce({ body: { error: 55, description: "Invalid session id" } });
    const again = await client.terminate({ sessionId, userId: "tester" }, admin());
    expect(again.alreadyTerminated).toBe(true);
    expect(fake.requests).toHaveLength(2);
  });
});

describe("luckymonaco: secrets", () => {
  it("never shows the partner token in logs, errors or ListProviders", async () => {
    const providers = await client.listProviders({}, admin());
    expect(providers.providers.map((p) => [p.name, p.type, p.isDefault])).toEqual([
      ["local", "local", false],
      ["casino", "luckymonaco", true],
    ]);
    await callLinesWritten(svc);
    expect(errorTexts.length).toBeGreaterThan(0);
    for (const text of [svc.logText(), JSON.stringify(providers, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)), ...errorTexts]) {
      expect(text).not.toContain(TOKEN);
    }
  });

  it("takes the token only by reference", () => {
    const entry = { name: "c", type: "luckymonaco", base_url: "http://127.0.0.1:1", secure_login: PARTNER };
    expect(() => parseConfig({ providers: [{ ...entry, token: TOKEN }] })).toThrow(/providers\[0\]\.token: must be a reference/);
    expect(() => parseConfig({ providers: [{ ...entry, token: "env:LM_TOKEN", base_url: "ftp://x" }] })).toThrow(/providers\[0\]\.base_url/);
    const config = parseConfig({ providers: [{ ...entry, token: "env:LM_TOKEN" }] });
    expect(JSON.stringify(config)).not.toContain(TOKEN);
  });
});

describe("luckymonaco: listUserSessions", () => {
  it("lists the player's game sessions as one unit named by the player, without asking the upstream", async () => {
    const provider = new LuckyMonacoProvider("casino", { base_url: fake.url, secure_login: PARTNER, token: new Secret(TOKEN) }, 2);
    try {
      const sessions = await provider.listUserSessions({ userId: "tester", signal: new AbortController().signal });
      expect(sessions).toEqual({ sessions: [{ sessionId: "tester", userId: "tester", active: true }], complete: true });
      expect(fake.requests).toHaveLength(0);
    } finally {
      await provider.close();
    }
  });
});
