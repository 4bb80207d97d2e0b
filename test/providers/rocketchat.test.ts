import { randomUUID } from "node:crypto";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { RocketChatProvider, rocketchatType } from "../../src/providers/rocketchat.js";
import { base32Decode, totp } from "../../src/auth/totp.js";
import { ProviderFailure } from "../../src/status/provider-failure.js";
import { rocketchatTable } from "../../src/status/rocketchat.js";
import type { MappingRow } from "../../src/status/table.js";
import type { FakeAnswer } from "../fakes/http-fake.js";
import { FakeRocketChat, type FakeWorkspace } from "../fakes/rocketchat.js";
import { expectMapped, keepErrorTexts } from "../helpers/errors.js";
import { bearer, callLinesWritten, grpcClient, startTestService, type TestService } from "../helpers/service.js";

// Seed 004, verbatim: the example call's headers and payload, and every example result.
const SEED_AUTH_TOKEN = "ocFlTSMfowj9tSH1vQV6ANL9SiahkKUK1KhU_PpAUtT";
const SEED_USER_ID = "2tTEqR7ZNMJ4HGGNa";
const SEED_2FA_CODE = "505403";
const SEED_PAYLOAD = `{
    "sessionId":"tTouumJMrHMjnedWf"
}`;
const SEED_SUCCESS = `{
    "sessionId": "tTouumJMrHMjnedWf",
    "success": true
}`;
const SEED_AUTHORIZATION = `{
    "status": "error",
    "message": "You must be logged in to do this."
}`;
const SEED_NO_PERMISSION = `{
    "success": false,
    "error": "User does not have the permissions required for this action [error-unauthorized]"
}`;
const SEED_SESSION_NOT_FOUND = `{
    "success": false,
    "error": "Session not found"
}`;
const SEED_TOTP_REQUIRED = `{
    "success": false,
    "error": "TOTP Required [totp-required]",
    "errorType": "totp-required",
    "details": {
        "method": "totp",
        "codeGenerated": false,
        "availableMethods": [
            "totp"
        ]
    }
}`;
const SEED_TOTP_INVALID = `{
    "success": false,
    "error": "TOTP Invalid [totp-invalid]",
    "errorType": "totp-invalid",
    "details": {
        "method": "totp",
        "codeGenerated": false
    }
}`;
const SEED_SESSION_ID = (JSON.parse(SEED_PAYLOAD) as { sessionId: string }).sessionId;

// RFC 6238 appendix B: the SHA-1 key "12345678901234567890", here in base32.
const RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
/** Our configured TOTP secret in the service (base32 of 20 random-looking bytes). */
const TOTP_SECRET = "KRUGS4ZANFZSA3TPOQQGCIDSMVQWYIDTMVRXEZLU";
const TOTP_KEY = base32Decode(TOTP_SECRET)!;

let fake: FakeRocketChat;
let svc: TestService;
let client: Client<typeof SessionControl>;
/** failure(): the ConnectError of a call that must fail; errorTexts: every error text our service or the adapter gave in this file, searched for secrets at the end. */
const { failure, texts: errorTexts } = keepErrorTexts();
/** Every x-2fa-code the fake received. */
const codesSent = new Set<string>();

/** The workspace our configured user id and token log into. */
const ours = (more: Partial<FakeWorkspace> = {}): Partial<FakeWorkspace> => ({ userId: SEED_USER_ID, authToken: SEED_AUTH_TOKEN, ...more });
/** Accepts the TOTP code of `key` for the current 30 s step or the one before (a step may end in flight). */
const acceptsTotpOf = (key: Buffer) => (code: string) => [0, -30_000].some((d) => totp(key, Date.now() + d) === code);

beforeAll(async () => {
  fake = await FakeRocketChat.start();
  process.env["RC_TOKEN"] = SEED_AUTH_TOKEN;
  process.env["RC_TOTP_SECRET"] = TOTP_SECRET;
  process.env["RC_RFC_SECRET"] = RFC_SECRET;
  const common = { type: "rocketchat", base_url: fake.url, user_id: SEED_USER_ID, auth_token: "env:RC_TOKEN", max_attempts: 1, breaker_failures: 1000, timeout_ms: 5000 };
  svc = await startTestService({}, {
    providers: [
      { name: "chat", ...common },
      { name: "chat-totp", ...common, totp_secret: "env:RC_TOTP_SECRET" },
      // For the timeout case only: every other call has 5 s, so that a loaded machine never times one out.
      { name: "chat-quick", ...common, timeout_ms: 1000 },
    ],
    default_provider: "chat",
  });
  client = grpcClient(svc);
});
afterAll(async () => {
  await svc?.stop();
  await fake?.close();
});
beforeEach(() => fake.reset(ours()));
afterEach(() => {
  for (const r of fake.requests) if (typeof r.headers["x-2fa-code"] === "string") codesSent.add(r.headers["x-2fa-code"]);
});

/** Terminate as admin, with the caller's x-2fa-code when given. */
function terminate(provider: string, sessionId: string, callerCode?: string, options: Record<string, string> = {}) {
  return client.terminate({ sessionId, provider, options }, { headers: { ...bearer(svc.keys.admin), ...(callerCode && { "x-2fa-code": callerCode }) } });
}

describe("rocketchat: ending a session", () => {
  it("forwards the caller's x-2fa-code and sends seed 004's example call", async () => {
    fake.reset(ours({ acceptsCode: (c) => c === SEED_2FA_CODE }));
    fake.addSession({ sessionId: SEED_SESSION_ID, userId: "someone", loginToken: "lt-1" });

    const res = await terminate("chat", SEED_SESSION_ID, SEED_2FA_CODE);
    expect(res.provider).toBe("chat");
    expect(res.alreadyTerminated).toBe(false);
    expect(res.details?.changeDate).toBeDefined();

    expect(fake.requests).toHaveLength(1);
    const r = fake.requests[0]!;
    expect(r.method).toBe("POST");
    expect(r.path).toBe("/api/v1/sessions/logout");
    expect(r.headers["content-type"]).toBe("application/json");
    expect(r.headers["x-user-id"]).toBe(SEED_USER_ID);
    expect(r.headers["x-auth-token"]).toBe(SEED_AUTH_TOKEN);
    expect(r.headers["x-2fa-code"]).toBe(SEED_2FA_CODE);
    expect(r.headers["x-2fa-method"]).toBeUndefined();
    expect(r.headers["authorization"]).toBeUndefined();
    expect(r.body).toEqual(JSON.parse(SEED_PAYLOAD));
    expect(r.answer).toEqual({ status: 200, text: SEED_SUCCESS });
    expect(fake.sessions.get(SEED_SESSION_ID)).toMatchObject({ logoutBy: SEED_USER_ID });
    expect(fake.sessions.get(SEED_SESSION_ID)?.loginToken).toBeUndefined();
  });

  it("computes the RFC 6238 code from the configured secret and sends it with x-2fa-method totp, ignoring the caller's", async () => {
    fake.reset(ours({ acceptsCode: acceptsTotpOf(TOTP_KEY) }));
    fake.addSession({ sessionId: "s-totp", userId: "someone", loginToken: "lt-2" });

    const res = await terminate("chat-totp", "s-totp", "000000");
    expect(res.provider).toBe("chat-totp");
    const r = fake.requests[0]!;
    const step = Math.floor(r.receivedAt / 30_000) * 30_000;
    expect([totp(TOTP_KEY, step), totp(TOTP_KEY, step - 30_000)]).toContain(r.headers["x-2fa-code"]);
    expect(r.headers["x-2fa-code"]).toMatch(/^\d{6}$/);
    expect(r.headers["x-2fa-method"]).toBe("totp");
    expect(r.headers["x-user-id"]).toBe(SEED_USER_ID);
    expect(r.headers["x-auth-token"]).toBe(SEED_AUTH_TOKEN);
    expect(r.body).toEqual({ sessionId: "s-totp" });
  });

  it("answers OK already_terminated when Rocket.Chat no longer knows a session this service ended", async () => {
    fake.reset(ours());
    fake.addSession({ sessionId: "s-twice", userId: "someone", loginToken: "lt-3" });
    expect((await terminate("chat", "s-twice")).alreadyTerminated).toBe(false);
    const again = await terminate("chat", "s-twice");
    expect(again.alreadyTerminated).toBe(true);
    expect(fake.requests.map((r) => r.answer?.status)).toEqual([200, 404]);
  });

  it("refuses options: the provider takes none, and nothing reaches Rocket.Chat", async () => {
    const err = await failure(terminate("chat", "s-opt", undefined, { gameId: "1" }));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => [v.field, v.description])).toEqual([['options["gameId"]', "unknown option for this provider; it takes none"]]);
    expect(fake.requests).toHaveLength(0);
  });
});

interface RowCase {
  name: string;
  /** The row of rocketchatTable it exercises; undefined: a row common to all upstreams. */
  row?: MappingRow;
  provider: "chat" | "chat-totp" | "chat-quick";
  workspace?: Partial<FakeWorkspace>;
  answer?: FakeAnswer;
  callerCode?: string;
  /** The answer's body, verbatim from the seed, when the fake gives one of the seed's. */
  seedText?: string;
  code: Code;
  reason: string;
  metadata: Record<string, unknown>;
  retryable?: boolean;
}

const row = (reason: string, code?: string, n = 0): MappingRow => rocketchatTable.filter((r) => r.reason === reason && (code === undefined || r.when.code === code))[n]!;
const LICENCE_BODY = { success: false, error: "This is an enterprise feature [error-action-not-allowed]", errorType: "error-action-not-allowed" };

const CASES: RowCase[] = [
  {
    name: "totp-required with no x-2fa-code from the caller",
    row: row("SECOND_FACTOR_REQUIRED"),
    provider: "chat",
    workspace: { acceptsCode: (c) => c === SEED_2FA_CODE },
    seedText: SEED_TOTP_REQUIRED,
    code: Code.PermissionDenied,
    reason: "SECOND_FACTOR_REQUIRED",
    metadata: { upstream_status: "400", upstream_code: "totp-required", upstream_message: "TOTP Required [totp-required]" },
  },
  {
    name: "totp-invalid for the caller's x-2fa-code",
    row: row("SECOND_FACTOR_INVALID"),
    provider: "chat",
    workspace: { acceptsCode: (c) => c === SEED_2FA_CODE },
    callerCode: "111111",
    seedText: SEED_TOTP_INVALID,
    code: Code.PermissionDenied,
    reason: "SECOND_FACTOR_INVALID",
    metadata: { upstream_status: "400", upstream_code: "totp-invalid", upstream_message: "TOTP Invalid [totp-invalid]" },
  },
  {
    name: "totp-required although our configured secret supplied a code",
    row: row("PROVIDER_CREDENTIALS_REJECTED", "totp-required:configured"),
    provider: "chat-totp",
    answer: { status: 400, raw: SEED_TOTP_REQUIRED },
    seedText: SEED_TOTP_REQUIRED,
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "400", upstream_code: "totp-required:configured", upstream_message: "TOTP Required [totp-required]" },
  },
  {
    name: "totp-invalid for the code from our configured secret (Rocket.Chat holds another secret)",
    row: row("PROVIDER_CREDENTIALS_REJECTED", "totp-invalid:configured"),
    provider: "chat-totp",
    workspace: { acceptsCode: acceptsTotpOf(base32Decode(RFC_SECRET)!) },
    callerCode: SEED_2FA_CODE,
    seedText: SEED_TOTP_INVALID,
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "400", upstream_code: "totp-invalid:configured", upstream_message: "TOTP Invalid [totp-invalid]" },
  },
  {
    name: "not logged in: Rocket.Chat does not take our auth token",
    row: rocketchatTable.find((r) => r.when.message?.test("You must be logged in to do this."))!,
    provider: "chat",
    workspace: { authToken: "another-token" },
    seedText: SEED_AUTHORIZATION,
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_message: "You must be logged in to do this." },
  },
  {
    name: "no permission: our user lacks logout-device-management",
    row: row("PROVIDER_PERMISSION_MISSING"),
    provider: "chat",
    workspace: { permissions: new Set(["view-device-management"]) },
    seedText: SEED_NO_PERMISSION,
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "403", upstream_code: "error-unauthorized", upstream_message: "User does not have the permissions required for this action [error-unauthorized]" },
  },
  {
    name: "no device-management licence, as Rocket.Chat 7 says it (400 error-action-not-allowed)",
    row: row("PROVIDER_LICENSE_REQUIRED", "error-action-not-allowed"),
    provider: "chat",
    workspace: { licence: "missing" },
    seedText: JSON.stringify(LICENCE_BODY, null, 4),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_LICENSE_REQUIRED",
    metadata: { upstream_status: "400", upstream_code: "error-action-not-allowed", upstream_message: "This is an enterprise feature [error-action-not-allowed]" },
  },
  {
    name: "no device-management licence, as Rocket.Chat 5 and 6 say it (401 unauthorized)",
    row: row("PROVIDER_LICENSE_REQUIRED", undefined, 1),
    provider: "chat",
    workspace: { licence: "missing-legacy" },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_LICENSE_REQUIRED",
    metadata: { upstream_status: "401", upstream_message: "unauthorized" },
  },
  {
    name: "no device-management licence, as the handler's own check says it (403 forbidden)",
    row: row("PROVIDER_LICENSE_REQUIRED", undefined, 1),
    provider: "chat",
    answer: { status: 403, body: { success: false, error: "forbidden" } },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_LICENSE_REQUIRED",
    metadata: { upstream_status: "403", upstream_message: "forbidden" },
  },
  {
    name: "Session not found (404)",
    row: row("SESSION_NOT_FOUND"),
    provider: "chat",
    seedText: SEED_SESSION_NOT_FOUND,
    code: Code.NotFound,
    reason: "SESSION_NOT_FOUND",
    metadata: { upstream_status: "404", upstream_message: "Session not found" },
  },
  {
    name: "Session not found (400)",
    row: row("SESSION_NOT_FOUND"),
    provider: "chat",
    answer: { status: 400, raw: SEED_SESSION_NOT_FOUND },
    code: Code.NotFound,
    reason: "SESSION_NOT_FOUND",
    metadata: { upstream_status: "400", upstream_message: "Session not found" },
  },
  {
    name: "Session not found in the body of an HTTP 200",
    row: row("SESSION_NOT_FOUND"),
    provider: "chat",
    answer: { status: 200, raw: SEED_SESSION_NOT_FOUND },
    code: Code.NotFound,
    reason: "SESSION_NOT_FOUND",
    metadata: { upstream_status: "200", upstream_message: "Session not found" },
  },
  {
    name: "any other HTTP 401 (a proxy's, not Rocket.Chat's body)",
    row: rocketchatTable.find((r) => r.when.httpStatus === 401)!,
    provider: "chat",
    answer: { status: 401, raw: "<html>401 Authorization Required</html>" },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_message: "HTTP 401" },
  },
  {
    name: "HTTP 5xx",
    provider: "chat",
    answer: { status: 500, body: { success: false, error: "Internal server error" } },
    code: Code.Unavailable,
    reason: "UPSTREAM_UNAVAILABLE",
    metadata: { upstream_status: "500", upstream_message: "Internal server error" },
    retryable: true,
  },
  {
    name: "HTTP 200 with a body that is not the documented success",
    provider: "chat",
    answer: { status: 200, raw: "<html>maintenance</html>" },
    code: Code.Unknown,
    reason: "UPSTREAM_MALFORMED_ANSWER",
    metadata: { upstream_status: "200", upstream_code: "transport.malformed", upstream_message: 'HTTP 200 with a body that is not {"sessionId", "success": true}' },
  },
  {
    name: "HTTP 200 success for another session id",
    provider: "chat",
    answer: { status: 200, body: { sessionId: "other", success: true } },
    code: Code.Unknown,
    reason: "UPSTREAM_MALFORMED_ANSWER",
    metadata: { upstream_status: "200", upstream_code: "transport.malformed", upstream_message: 'HTTP 200 with a body that is not {"sessionId", "success": true}' },
  },
  {
    name: "a 404 that is not Rocket.Chat's 'Session not found' is no proof that the session is gone",
    provider: "chat",
    answer: { status: 404, body: { success: false, error: "Not found" } },
    code: Code.Unknown,
    reason: "UPSTREAM_UNEXPECTED_ANSWER",
    metadata: { upstream_status: "404", upstream_message: "Not found" },
  },
  {
    name: "connection reset mid-answer",
    provider: "chat",
    answer: { status: 200, body: { sessionId: "x", success: true }, resetMidAnswer: true },
    code: Code.Unavailable,
    reason: "UPSTREAM_CONNECTION_RESET",
    metadata: { upstream_code: "transport.reset", upstream_message: expect.any(String) },
    retryable: true,
  },
  {
    name: "no answer within the provider's timeout",
    provider: "chat-quick",
    answer: { status: 200, body: { sessionId: "x", success: true }, delayMs: 1_500 },
    code: Code.DeadlineExceeded,
    reason: "UPSTREAM_TIMEOUT",
    metadata: { upstream_code: "transport.timeout", upstream_message: "no answer within 1000 ms" },
    retryable: true,
  },
];

describe("rocketchat: every answer of the mapping table", () => {
  it.each(CASES)("$name", async (c) => {
    fake.reset(ours(c.workspace));
    if (c.answer) fake.answerOnce(c.answer);
    const sessionId = `s-${randomUUID()}`;

    const err = await failure(terminate(c.provider, sessionId, c.callerCode));
    expectMapped(err, c.provider, c);
    if (c.row) expect(c.row).toMatchObject({ code: c.code, reason: c.reason });

    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.body).toEqual({ sessionId });
    if (c.seedText) expect(fake.requests[0]!.answer?.text).toBe(c.seedText);
  });

  it("has a case for every row of the table", () => {
    const covered = new Set(CASES.map((c) => c.row).filter((r) => r !== undefined));
    expect(rocketchatTable.filter((r) => !covered.has(r)).map((r) => r.answer)).toEqual([]);
  });
});

describe("rocketchat: TOTP (RFC 6238)", () => {
  it("matches the RFC's SHA-1 test vectors", () => {
    const key = base32Decode(RFC_SECRET)!;
    expect(key.toString("ascii")).toBe("12345678901234567890");
    const vectors: [number, string][] = [
      [59, "94287082"],
      [1111111109, "07081804"],
      [1111111111, "14050471"],
      [1234567890, "89005924"],
      [2000000000, "69279037"],
      [20000000000, "65353130"],
    ];
    for (const [t, eight] of vectors) expect(totp(key, t * 1000)).toBe(eight.slice(-6));
  });

  it("reads base32 in either case, with spaces and padding, and refuses what is not base32", () => {
    expect(base32Decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq")).toEqual(Buffer.from("12345678901234567890"));
    expect(base32Decode("MZXW6===")).toEqual(Buffer.from("foo"));
    expect(base32Decode("not base32!")).toBeUndefined();
    expect(base32Decode("")).toBeUndefined();
  });

  it("sends the code of the adapter's clock: at T = 59 s, 287082", async () => {
    const settings = rocketchatType.settings.parse({ base_url: fake.url, user_id: SEED_USER_ID, auth_token: "env:RC_TOKEN", totp_secret: "env:RC_RFC_SECRET" });
    const provider = new RocketChatProvider("rfc", settings, 1, () => 59_000);
    fake.reset(ours({ acceptsCode: (c) => c === "287082" }));
    fake.addSession({ sessionId: SEED_SESSION_ID, userId: "someone", loginToken: "lt-rfc" });
    try {
      await provider.terminate(callOf(SEED_SESSION_ID));
    } finally {
      await provider.close();
    }
    expect(fake.requests[0]!.headers["x-2fa-code"]).toBe("287082");
    expect(fake.requests[0]!.headers["x-2fa-method"]).toBe("totp");
  });

  it("refuses a configured secret that is not base32, without echoing it", () => {
    process.env["RC_BAD_SECRET"] = "not-base32-secret!";
    const attempt = () =>
      parseConfig({ providers: [{ name: "chat", type: "rocketchat", base_url: fake.url, user_id: "u", auth_token: "env:RC_TOKEN", totp_secret: "env:RC_BAD_SECRET" }] });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow("providers[0].totp_secret: must be a base32 TOTP secret");
    expect(() => attempt()).not.toThrow(/not-base32-secret/);
  });
});

/** A TerminateCall for calling the adapter directly. */
function callOf(sessionId: string) {
  return { caller: { name: "test", permissions: new Set(["session.delete"]) } as never, sessionId, userId: "", reason: "", requestId: randomUUID(), options: {}, signal: new AbortController().signal };
}

describe("rocketchat: a user's sessions (sessions/list.all)", () => {
  let provider: RocketChatProvider;
  beforeAll(() => {
    provider = new RocketChatProvider("chat-list", rocketchatType.settings.parse({ base_url: fake.url, user_id: SEED_USER_ID, auth_token: "env:RC_TOKEN", totp_secret: "env:RC_TOTP_SECRET" }), 2);
  });
  afterAll(() => provider.close());
  const list = (userId: string) => provider.listUserSessions({ userId, signal: new AbortController().signal });

  it("reads every page with offset/count, keeps only the user's sessions, and sends our second factor", async () => {
    fake.reset(ours({ acceptsCode: acceptsTotpOf(TOTP_KEY) }));
    for (let i = 0; i < 250; i++) fake.addSession({ sessionId: `u1-${i}`, userId: "u1", loginToken: `lt-${i}` });
    // Rocket.Chat's filter also matches other users whose id or device name contains the text.
    for (let i = 0; i < 3; i++) fake.addSession({ sessionId: `zu1z-${i}`, userId: "zu1z", loginToken: `lz-${i}` });
    fake.addSession({ sessionId: "dev-0", userId: "other", loginToken: "ld", device: { name: "laptop of u1" } });
    fake.addSession({ sessionId: "u1-ended", userId: "u1" });
    fake.addSession({ sessionId: "other-0", userId: "other", loginToken: "lo" });

    const { sessions, complete } = await list("u1");
    expect(complete).toBe(true);
    expect(sessions).toHaveLength(250);
    expect(new Set(sessions.map((s) => s.sessionId))).toEqual(new Set(Array.from({ length: 250 }, (_, i) => `u1-${i}`)));
    expect(sessions.every((s) => s.userId === "u1" && s.active)).toBe(true);

    expect(fake.requests.map((r) => [r.method, r.pathname, r.query.get("offset"), r.query.get("count"), r.query.get("filter")])).toEqual([
      ["GET", "/api/v1/sessions/list.all", "0", "100", "u1"],
      ["GET", "/api/v1/sessions/list.all", "100", "100", "u1"],
      ["GET", "/api/v1/sessions/list.all", "200", "100", "u1"],
    ]);
    for (const r of fake.requests) {
      expect(r.headers["x-user-id"]).toBe(SEED_USER_ID);
      expect(r.headers["x-auth-token"]).toBe(SEED_AUTH_TOKEN);
      expect(r.headers["x-2fa-method"]).toBe("totp");
      expect(r.answer?.status).toBe(200);
    }
  });

  it("sends no filter for an id that a regex would read differently, and filters itself", async () => {
    fake.reset(ours());
    fake.addSession({ sessionId: "a", userId: "a.b*", loginToken: "l1" });
    fake.addSession({ sessionId: "b", userId: "axbbb", loginToken: "l2" });
    expect(await list("a.b*")).toEqual({ sessions: [{ sessionId: "a", userId: "a.b*", active: true }], complete: true });
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.query.has("filter")).toBe(false);
  });

  it("stops at an empty page, and after a bounded number of pages, saying the listing is incomplete", async () => {
    fake.reset(ours());
    fake.answerOnce({ body: { sessions: [], count: 0, offset: 0, total: 1_000_000, success: true } });
    expect(await list("u1")).toEqual({ sessions: [], complete: true });
    expect(fake.requests).toHaveLength(1);

    fake.reset(ours());
    const page = (i: number): FakeAnswer => ({ body: { sessions: [{ sessionId: `p-${i}`, userId: "u1" }], count: 1, offset: i, total: 1_000_000, success: true } });
    fake.answerOnce(...Array.from({ length: 150 }, (_, i) => page(i)));
    const capped = await list("u1");
    expect(capped.sessions).toHaveLength(100);
    expect(capped.complete).toBe(false);
    expect(fake.requests).toHaveLength(100);
  });

  it("fails with the answer for the mapping table", async () => {
    fake.reset(ours({ authToken: "another-token" }));
    const refused = await list("u1").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ProviderFailure);
    expect((refused as ProviderFailure).answer).toEqual({ httpStatus: 401, message: "You must be logged in to do this." });
    expect((refused as ProviderFailure).row.reason).toBe("PROVIDER_CREDENTIALS_REJECTED");

    fake.reset(ours({ permissions: new Set(["logout-device-management"]) }));
    const denied = (await list("u1").catch((e: unknown) => e)) as ProviderFailure;
    expect(denied.row.reason).toBe("PROVIDER_PERMISSION_MISSING");

    fake.reset(ours());
    fake.answerOnce({ body: { sessions: [{ id: 1 }], total: 1, success: true } });
    const malformed = (await list("u1").catch((e: unknown) => e)) as ProviderFailure;
    expect(malformed.answer.code).toBe("transport.malformed");
    for (const f of [refused as ProviderFailure, denied, malformed]) errorTexts.push(f.message);
  });
});

describe("rocketchat: secrets", () => {
  it("never shows our auth token, our TOTP secret or any second-factor code in logs or error messages", async () => {
    await callLinesWritten(svc);
    // Codes from every test, the forwarded ones included.
    expect(codesSent.size).toBeGreaterThan(3);
    expect(codesSent).toContain(SEED_2FA_CODE);
    const texts = { logs: svc.logText(), errors: errorTexts.join("\n") };
    expect(texts.logs).toContain('"procedure":"/sessioncontrol.v1.SessionControl/Terminate"');
    expect(errorTexts.length).toBeGreaterThan(20);
    for (const [where, text] of Object.entries(texts)) {
      for (const secret of [SEED_AUTH_TOKEN, TOTP_SECRET, RFC_SECRET]) expect(text, where).not.toContain(secret);
      // A code is six digits: search it as a whole number, not inside a timestamp.
      for (const code of codesSent) expect(text, `${where}: ${code}`).not.toMatch(new RegExp(`(?<!\\d)${code}(?!\\d)`));
    }
  });
});
