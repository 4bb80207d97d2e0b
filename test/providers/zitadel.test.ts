import { randomUUID } from "node:crypto";
import { create, equals, fromJsonString } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { SessionFieldName, SessionSchema } from "@zitadel/proto/zitadel/session/v2/session_pb.js";
import {
  DeleteSessionRequestSchema,
  DeleteSessionResponseSchema,
  ListSessionsRequestSchema,
  type DeleteSessionRequest,
  type ListSessionsRequest,
} from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { ZitadelProvider, zitadelType } from "../../src/providers/zitadel.js";
import { classify, ProviderFailure } from "../../src/status/provider-failure.js";
import { zitadelTable } from "../../src/status/zitadel.js";
import { FakeZitadel, zitadelError, type FakeAnswer, type ZitadelErrorBody } from "../fakes/zitadel.js";
import { closedPort } from "../helpers/closed-port.js";
import { expectMapped, keepErrorTexts } from "../helpers/errors.js";
import { bearer, callLinesWritten, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

// Seed 001, verbatim: the REST request body of DeleteSession, its example answer, and the error body.
const SEED_001_REQUEST_BODY = `{
"sessionToken": "string"
}`;
const SEED_001_SUCCESS = `{
"details": {
"sequence": "2",
"changeDate": "2025-03-04T15:26:53.203Z",
"resourceOwner": "69629023906488334",
"creationDate": "2025-03-04T15:26:53.203Z"
}
}`;
const SEED_001_ERROR = `{
"code": 0,
"message": "string",
"details": [
{
"@type": "string"
}
]
}`;
// Seed 002, verbatim: the example answer of the older API version, without creationDate.
const SEED_002_SUCCESS = `{
"details": {
"sequence": "2",
"changeDate": "2024-06-13T06:44:35.591Z",
"resourceOwner": "69629023906488334"
}
}`;

const TOKEN = `zitadel-pat-${randomUUID()}`;
const DELETE_PATH = "/zitadel.session.v2.SessionService/DeleteSession";

let fake: FakeZitadel;
let svc: TestService;
let client: Client<typeof SessionControl>;
/** failure(): the ConnectError of a call that must fail; errorTexts: what every error showed, searched for secrets at the end. */
const { failure, texts: errorTexts } = keepErrorTexts();
/** Session tokens callers presented in this file, searched for at the end. */
const callerTokens: string[] = [];

beforeAll(async () => {
  fake = await FakeZitadel.start();
  process.env["ZITADEL_TEST_PAT"] = TOKEN;
  const zitadel = { type: "zitadel", token: "env:ZITADEL_TEST_PAT", breaker_failures: 1000 };
  svc = await startTestService({}, {
    providers: [
      { name: "local", type: "local" },
      // One attempt, and a breaker that never opens here: each answer is seen exactly once.
      { name: "idp", ...zitadel, base_url: fake.url, max_attempts: 1, timeout_ms: 2000 },
      { name: "idp-connect", ...zitadel, base_url: fake.url, protocol: "connect", max_attempts: 1 },
      { name: "idp-retry", ...zitadel, base_url: fake.url, max_attempts: 3, initial_backoff_ms: 1, max_backoff_ms: 5 },
      { name: "idp-slow", ...zitadel, base_url: fake.url, max_attempts: 1, timeout_ms: 150 },
      { name: "idp-wrong-path", ...zitadel, base_url: `${fake.url}/not-zitadel`, max_attempts: 1 },
      { name: "idp-down", ...zitadel, base_url: `http://127.0.0.1:${await closedPort()}`, max_attempts: 1 },
    ],
    default_provider: "idp",
  });
  client = grpcClient(svc);
});
afterAll(async () => {
  await svc.stop();
  await fake.stop();
});
beforeEach(() => fake.reset());

const as = (role: Role, extra: Record<string, string> = {}) => ({ headers: { ...bearer(svc.keys[role]), ...extra } });

describe("zitadel: success", () => {
  it("sends DeleteSession with seed 001's session token over gRPC and answers seed 001's details", async () => {
    fake.deleteSession = { response: fromJsonString(DeleteSessionResponseSchema, SEED_001_SUCCESS) };
    const { sessionToken } = JSON.parse(SEED_001_REQUEST_BODY) as { sessionToken: string };
    const res = await client.terminate({ sessionId: "312909075212468632", sessionToken, reason: "offboarding" }, as("deleter"));

    expect(res.provider).toBe("idp");
    expect(res.alreadyTerminated).toBe(false);
    expect(res.details?.sequence).toBe(2n);
    expect(res.details?.resourceOwner).toBe("69629023906488334");
    expect(timestampDate(res.details!.changeDate!).toISOString()).toBe("2025-03-04T15:26:53.203Z");
    expect(timestampDate(res.details!.creationDate!).toISOString()).toBe("2025-03-04T15:26:53.203Z");

    const [call, ...more] = fake.calls;
    expect(more).toEqual([]);
    expect(call!.method).toBe("DeleteSession");
    expect(call!.httpMethod).toBe("POST");
    expect(call!.path).toBe(DELETE_PATH);
    expect(call!.protocol).toBe("grpc");
    expect(call!.headers["authorization"]).toBe(`Bearer ${TOKEN}`);
    expect(call!.headers["content-type"]).toBe("application/grpc+proto");
    expect(call!.headers["te"]).toBe("trailers");
    // Exactly the REST body of seed 001, with the path's session id: nothing more, nothing less.
    const expected = fromJsonString(DeleteSessionRequestSchema, SEED_001_REQUEST_BODY);
    expected.sessionId = "312909075212468632";
    expect(equals(DeleteSessionRequestSchema, call!.request as DeleteSessionRequest, expected)).toBe(true);
    expect((call!.request as DeleteSessionRequest).sessionToken).toBe("string");
  });

  it("speaks the Connect protocol when configured, and takes seed 002's answer without creationDate", async () => {
    fake.deleteSession = { response: fromJsonString(DeleteSessionResponseSchema, SEED_002_SUCCESS) };
    const res = await client.terminate({ sessionId: "s-connect", provider: "idp-connect" }, as("admin"));

    expect(res.provider).toBe("idp-connect");
    expect(res.details?.sequence).toBe(2n);
    expect(res.details?.resourceOwner).toBe("69629023906488334");
    expect(timestampDate(res.details!.changeDate!).toISOString()).toBe("2024-06-13T06:44:35.591Z");
    expect(res.details?.creationDate).toBeUndefined();

    const [call] = fake.calls;
    expect(call!.protocol).toBe("connect");
    expect(call!.httpMethod).toBe("POST");
    expect(call!.path).toBe(DELETE_PATH);
    expect(call!.headers["content-type"]).toBe("application/proto");
    expect(call!.headers["authorization"]).toBe(`Bearer ${TOKEN}`);
    expect(equals(DeleteSessionRequestSchema, call!.request as DeleteSessionRequest, create(DeleteSessionRequestSchema, { sessionId: "s-connect" }))).toBe(true);
  });

  it("sends no session_token when the caller gave none: Zitadel then checks our user's session.delete", async () => {
    fake.deleteSession = { response: { details: { sequence: 7n, resourceOwner: "org-1" } } };
    const res = await client.terminate({ sessionId: "s-no-token" }, as("deleter"));
    expect(res.details?.sequence).toBe(7n);
    const request = fake.calls[0]!.request as DeleteSessionRequest;
    expect(request.sessionId).toBe("s-no-token");
    expect(request.sessionToken).toBeUndefined();
  });

  it("lets a caller without session.delete through when it presents a session token: Zitadel verifies it", async () => {
    const sessionToken = `caller-token-${randomUUID()}`;
    callerTokens.push(sessionToken);
    fake.deleteSession = { response: { details: { sequence: 3n, resourceOwner: "org-1" } } };
    const res = await client.terminate({ sessionId: "s-by-token", sessionToken }, as("nobody"));
    expect(res.details?.sequence).toBe(3n);
    expect((fake.calls[0]!.request as DeleteSessionRequest).sessionToken).toBe(sessionToken);
  });

  it("refuses a caller without session.delete and without a token before any upstream call", async () => {
    for (const role of ["nobody", "alice"] as const) {
      const err = await failure(client.terminate({ sessionId: "s-denied" }, as(role)));
      expect(err.code).toBe(Code.PermissionDenied);
      const [info] = err.findDetails(ErrorInfoSchema);
      expect(info?.reason).toBe("PERMISSION_DENIED");
      expect(info?.domain).toBe("session-control");
    }
    expect(fake.calls).toEqual([]);
  });

  it("keeps one HTTP/2 connection per provider for many calls", async () => {
    fake.deleteSession = { response: { details: { sequence: 1n } } };
    await client.terminate({ sessionId: "warm-up" }, as("admin"));
    const opened = fake.connections;
    await Promise.all(Array.from({ length: 8 }, (_, i) => client.terminate({ sessionId: `s-pooled-${i}` }, as("admin"))));
    expect(fake.callsOf("DeleteSession")).toHaveLength(9);
    expect(fake.connections).toBe(opened);
  });

  it("answers OK already_terminated when Zitadel no longer knows a session this service ended", async () => {
    fake.deleteSession = { response: { details: { sequence: 4n, resourceOwner: "org-1" } } };
    await client.terminate({ sessionId: "s-ended-here" }, as("admin"));
    fake.deleteSession = { error: zitadelError(Code.NotFound, "COMMAND-x0099887", "Errors.Session.NotExisting") };
    const again = await client.terminate({ sessionId: "s-ended-here" }, as("admin"));
    expect(again.alreadyTerminated).toBe(true);
    expect(again.details?.sequence).toBe(4n);
  });

  it("retries an answer the table marks retryable and succeeds", async () => {
    let n = 0;
    fake.deleteSession = () => (++n < 3 ? { error: { code: Code.Unavailable, message: "no healthy upstream" } } : { response: { details: { sequence: 9n } } });
    const res = await client.terminate({ sessionId: "s-retry", provider: "idp-retry" }, as("admin"));
    expect(res.details?.sequence).toBe(9n);
    expect(fake.calls.map((c) => (c.request as DeleteSessionRequest).sessionId)).toEqual(["s-retry", "s-retry", "s-retry"]);
  });
});

interface RowCase {
  /** What Zitadel (or the network) does. */
  name: string;
  answer?: FakeAnswer<typeof DeleteSessionResponseSchema>;
  provider?: string;
  /** Extra request headers, e.g. the caller's deadline. */
  headers?: Record<string, string>;
  code: Code;
  reason: string;
  retryable: boolean;
  upstream: { status?: string; code: string; message: string | RegExp };
  /** Whether the fake must see the call given up (the upstream request cancelled). */
  cancelled?: boolean;
}

const seedError = JSON.parse(SEED_001_ERROR) as ZitadelErrorBody;

/** A row where Zitadel fails with `status` and an ErrorDetail: its id is the upstream code, "<key> (<id>)" the message. */
function withDetail(name: string, status: Code, id: string, key: string, code: Code, reason: string, retryable: boolean): RowCase {
  return { name, answer: { error: zitadelError(status, id, key) }, code, reason, retryable, upstream: { status: String(status), code: id, message: `${key} (${id})` } };
}

/** A row where Zitadel (or a proxy) fails with `status` and a message, without ErrorDetail: the status's name is the upstream code. */
function withoutDetail(name: string, status: Code, statusName: string, message: string, code: Code, reason: string, retryable: boolean): RowCase {
  return { name, answer: { error: { code: status, message } }, code, reason, retryable, upstream: { status: String(status), code: statusName, message } };
}

const ROWS: RowCase[] = [
  withDetail("PERMISSION_DENIED COMMAND-sGr42: wrong session token", Code.PermissionDenied, "COMMAND-sGr42", "Errors.Session.Token.Invalid", Code.PermissionDenied, "SESSION_TOKEN_INVALID", false),
  withDetail("PERMISSION_DENIED AUTHZ-HKJD33: our service user lacks session.delete", Code.PermissionDenied, "AUTHZ-HKJD33", "Errors.PermissionDenied", Code.FailedPrecondition, "PROVIDER_PERMISSION_MISSING", false),
  withDetail("PERMISSION_DENIED AUTH-5mWD2: no matching permissions for the method", Code.PermissionDenied, "AUTH-5mWD2", "No matching permissions found", Code.FailedPrecondition, "PROVIDER_PERMISSION_MISSING", false),
  withDetail("UNAUTHENTICATED AUTH-7fs1e: our token rejected", Code.Unauthenticated, "AUTH-7fs1e", "Errors.Token.Invalid", Code.FailedPrecondition, "PROVIDER_CREDENTIALS_REJECTED", false),
  withoutDetail("NOT_FOUND without ErrorDetail: the instance is unknown at base_url", Code.NotFound, "NOT_FOUND", "unable to set instance using origin &{127.0.0.1:8080  http} (ExternalDomain is localhost): Instance not found.", Code.FailedPrecondition, "PROVIDER_INSTANCE_NOT_FOUND", false),
  withDetail("NOT_FOUND: no such session", Code.NotFound, "COMMAND-x0099887", "Errors.Session.NotExisting", Code.NotFound, "SESSION_NOT_FOUND", false),
  withoutDetail("INVALID_ARGUMENT from request validation, without ErrorDetail", Code.InvalidArgument, "INVALID_ARGUMENT", "invalid DeleteSessionRequest.SessionId: value length must be between 1 and 200 runes, inclusive", Code.InvalidArgument, "UPSTREAM_REJECTED_ARGUMENT", false),
  withoutDetail("FAILED_PRECONDITION", Code.FailedPrecondition, "FAILED_PRECONDITION", "instance is not active", Code.FailedPrecondition, "UPSTREAM_FAILED_PRECONDITION", false),
  {
    name: "UNIMPLEMENTED: no SessionService at base_url",
    provider: "idp-wrong-path",
    code: Code.FailedPrecondition,
    reason: "PROVIDER_API_UNSUPPORTED",
    retryable: false,
    upstream: { status: "12", code: "UNIMPLEMENTED", message: /404/ },
  },
  withoutDetail("UNAVAILABLE from Zitadel or its proxy", Code.Unavailable, "UNAVAILABLE", "upstream connect error or disconnect/reset before headers", Code.Unavailable, "UPSTREAM_UNAVAILABLE", true),
  withoutDetail("RESOURCE_EXHAUSTED", Code.ResourceExhausted, "RESOURCE_EXHAUSTED", "rate limit exceeded", Code.Unavailable, "UPSTREAM_RESOURCE_EXHAUSTED", true),
  withoutDetail("ABORTED", Code.Aborted, "ABORTED", "concurrent modification", Code.Unavailable, "UPSTREAM_ABORTED", true),
  withDetail("INTERNAL QUERY-SAder", Code.Internal, "QUERY-SAder", "Errors.Internal", Code.Unavailable, "UPSTREAM_INTERNAL_ERROR", true),
  {
    // Seed 001's error body as documented, with an error code in place of its placeholder 0.
    name: "INTERNAL with seed 001's error body: a detail of another type than ErrorDetail",
    answer: { error: { ...seedError, code: Code.Internal } },
    code: Code.Unavailable,
    reason: "UPSTREAM_INTERNAL_ERROR",
    retryable: true,
    upstream: { status: "13", code: "INTERNAL", message: "string" },
  },
  withoutDetail("DEADLINE_EXCEEDED inside Zitadel", Code.DeadlineExceeded, "DEADLINE_EXCEEDED", "context deadline exceeded", Code.DeadlineExceeded, "UPSTREAM_DEADLINE_EXCEEDED", true),
  withoutDetail("UNKNOWN: a status no row knows", Code.Unknown, "UNKNOWN", "pq: out of shared memory", Code.Unknown, "UPSTREAM_UNEXPECTED_ANSWER", false),
  {
    name: "OK without details",
    answer: { response: {} },
    code: Code.Unknown,
    reason: "UPSTREAM_MALFORMED_ANSWER",
    retryable: false,
    upstream: { code: "transport.malformed", message: "DeleteSession answered without details" },
  },
  {
    name: "connection refused",
    provider: "idp-down",
    code: Code.Unavailable,
    reason: "UPSTREAM_UNREACHABLE",
    retryable: true,
    upstream: { code: "transport.refused", message: /ECONNREFUSED/ },
  },
  {
    name: "connection destroyed mid-answer",
    answer: { destroySocket: true },
    code: Code.Unavailable,
    reason: "UPSTREAM_CONNECTION_RESET",
    retryable: true,
    upstream: { code: "transport.reset", message: /http\/2 stream closed/ },
  },
  {
    name: "no answer within the provider's timeout",
    provider: "idp-slow",
    answer: { delayMs: 3000, response: { details: { sequence: 1n } } },
    code: Code.DeadlineExceeded,
    reason: "UPSTREAM_TIMEOUT",
    retryable: true,
    upstream: { code: "transport.timeout", message: "no answer within 150 ms" },
    cancelled: true,
  },
  {
    name: "an answer slower than the caller's deadline",
    answer: { delayMs: 3000, response: { details: { sequence: 1n } } },
    headers: { "grpc-timeout": "300m" },
    code: Code.DeadlineExceeded,
    reason: "CALLER_DEADLINE_EXCEEDED",
    retryable: false,
    upstream: { code: "transport.deadline", message: "the caller's deadline passed" },
    cancelled: true,
  },
];

describe("zitadel: every mapped answer", () => {
  it.each(ROWS)("$name", async (row) => {
    if (row.answer) fake.deleteSession = row.answer;
    const provider = row.provider ?? "idp";
    const err = await failure(client.terminate({ sessionId: `s-${randomUUID()}`, provider }, as("admin", row.headers)));
    const { status, code, message } = row.upstream;
    const metadata = { upstream_status: status, upstream_code: code, upstream_message: typeof message === "string" ? message : expect.stringMatching(message) };
    expectMapped(err, provider, { ...row, metadata });
    if (row.cancelled) {
      await until("the upstream call to be aborted", () => fake.calls[0]?.aborted);
      expect(fake.calls[0]?.aborted).toBe(true);
    }
  });

  it("covers every row of the table", () => {
    const answers = ROWS.map((r) => r.upstream);
    for (const tableRow of zitadelTable) {
      const hit = answers.some((a) => classify({ ...(a.status && { grpcCode: Number(a.status) }), code: a.code, message: typeof a.message === "string" ? a.message : "" }, zitadelTable) === tableRow);
      expect(hit, tableRow.answer).toBe(true);
    }
  });

  it("still serves after the faults", async () => {
    fake.deleteSession = { response: { details: { sequence: 5n } } };
    const res = await client.terminate({ sessionId: "s-after-faults" }, as("admin"));
    expect(res.details?.sequence).toBe(5n);
  });
});

describe("zitadel: options and configuration", () => {
  it("refuses any option key before calling Zitadel", async () => {
    const err = await failure(client.terminate({ sessionId: "s-options", options: { gameId: "1" } }, as("admin")));
    expect(err.code).toBe(Code.InvalidArgument);
    const [bad] = err.findDetails(BadRequestSchema);
    expect(bad?.fieldViolations.map((v) => v.field)).toEqual(['options["gameId"]']);
    expect(bad?.fieldViolations[0]?.description).toMatch(/takes none/);
    expect(fake.calls).toEqual([]);
  });

  it("takes the token only by reference, and a base_url only over http(s)", () => {
    const literal = "pat-given-literally";
    const attempt = (entry: Record<string, unknown>) => () => parseConfig({ providers: [{ name: "z", type: "zitadel", ...entry }] });
    expect(attempt({ base_url: "https://zitadel.example", token: literal })).toThrow(ConfigError);
    try {
      attempt({ base_url: "https://zitadel.example", token: literal })();
    } catch (err) {
      expect(String(err)).toMatch(/token/);
      expect(String(err)).not.toContain(literal);
    }
    expect(attempt({ base_url: "ftp://zitadel.example", token: "env:ZITADEL_TEST_PAT" })).toThrow(/base_url/);
    expect(attempt({ base_url: "https://zitadel.example", token: "env:ZITADEL_TEST_PAT", protocol: "grpc-web" })).toThrow(/protocol/);
  });
});

describe("zitadel: listUserSessions", () => {
  const provider = () => new ZitadelProvider("idp", zitadelType.settings.parse({ base_url: fake.url, token: "env:ZITADEL_TEST_PAT" }));

  it("reads every page of ListSessions for the user, and tells expired sessions from active ones", async () => {
    const total = 230;
    const sessions = Array.from({ length: total }, (_, i) =>
      create(SessionSchema, {
        id: `zs-${i}`,
        factors: { user: { id: "user-42", loginName: "u42@example.com" } },
        // Every tenth session has expired; the others expire in an hour or never.
        ...(i % 10 === 0 ? { expirationDate: timestampFromDate(new Date(Date.now() - 60_000)) } : i % 2 ? { expirationDate: timestampFromDate(new Date(Date.now() + 3_600_000)) } : {}),
      }),
    );
    fake.listSessions = (req: ListSessionsRequest) => {
      const offset = Number(req.query?.offset ?? 0n);
      return { response: { details: { totalResult: BigInt(total) }, sessions: sessions.slice(offset, offset + (req.query?.limit ?? 0)) } };
    };
    const p = provider();
    try {
      const { sessions: listed, complete } = await p.listUserSessions({ userId: "user-42", signal: AbortSignal.timeout(5000) });
      expect(complete).toBe(true);
      expect(listed.map((s) => s.sessionId)).toEqual(sessions.map((s) => s.id));
      expect(listed.every((s) => s.userId === "user-42")).toBe(true);
      expect(listed.filter((s) => !s.active).map((s) => s.sessionId)).toEqual(sessions.filter((_, i) => i % 10 === 0).map((s) => s.id));
    } finally {
      await p.close();
    }

    const calls = fake.callsOf("ListSessions");
    expect(calls.map((c) => c.path)).toEqual(Array(3).fill("/zitadel.session.v2.SessionService/ListSessions"));
    for (const [i, call] of calls.entries()) {
      expect(call.headers["authorization"]).toBe(`Bearer ${TOKEN}`);
      const expected = create(ListSessionsRequestSchema, {
        query: { offset: BigInt(i * 100), limit: 100, asc: true },
        queries: [{ query: { case: "userIdQuery", value: { id: "user-42" } } }],
        sortingColumn: SessionFieldName.CREATION_DATE,
      });
      expect(equals(ListSessionsRequestSchema, call.request as ListSessionsRequest, expected)).toBe(true);
    }
  });

  it("stops at an empty page and answers an empty list for a user without sessions", async () => {
    fake.listSessions = { response: { details: { totalResult: 0n }, sessions: [] } };
    const p = provider();
    try {
      expect(await p.listUserSessions({ userId: "nobody-here", signal: AbortSignal.timeout(5000) })).toEqual({ sessions: [], complete: true });
    } finally {
      await p.close();
    }
    expect(fake.callsOf("ListSessions")).toHaveLength(1);
  });

  it("fails with Zitadel's answer for the mapping table", async () => {
    fake.listSessions = { error: zitadelError(Code.PermissionDenied, "AUTHZ-HKJD33", "Errors.PermissionDenied") };
    const p = provider();
    try {
      const err = await p.listUserSessions({ userId: "user-42", signal: AbortSignal.timeout(5000) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ProviderFailure);
      expect((err as ProviderFailure).answer).toEqual({ grpcCode: Code.PermissionDenied, code: "AUTHZ-HKJD33", message: "Errors.PermissionDenied (AUTHZ-HKJD33)" });
      expect((err as ProviderFailure).row.reason).toBe("PROVIDER_PERMISSION_MISSING");
    } finally {
      await p.close();
    }
  });

  it("gives up with the abort reason when its signal aborts", async () => {
    fake.listSessions = { delayMs: 3000, response: {} };
    const p = provider();
    const controller = new AbortController();
    const reason = new ProviderFailure("idp", { code: "transport.canceled", message: "the caller cancelled the call" }, zitadelTable);
    // Aborted once the upstream has the call, however long the call took to get there.
    const abort = () => controller.abort(reason);
    void until("the upstream call", () => fake.calls.length > 0).then(abort, abort);
    try {
      await expect(p.listUserSessions({ userId: "user-42", signal: controller.signal })).rejects.toBe(reason);
    } finally {
      await p.close();
    }
    await until("the upstream call to be aborted", () => fake.calls[0]?.aborted);
    expect(fake.calls[0]?.aborted).toBe(true);
  });
});

describe("zitadel: secrets", () => {
  it("never shows the service user's token or a caller's session token in logs or error messages", async () => {
    await callLinesWritten(svc);
    expect(errorTexts.length).toBeGreaterThan(20);
    const text = svc.logText();
    for (const secret of [TOKEN, ...callerTokens]) {
      expect(text).not.toContain(secret);
      for (const e of errorTexts) expect(e).not.toContain(secret);
    }
  });
});
