import { createHash, randomBytes, randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { DeleteSessionRequest, ListSessionsRequest } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { FakeZitadel } from "../fakes/zitadel.js";
import { detailBytes } from "../helpers/errors.js";
import { operationDone } from "../helpers/operations.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

/*
 * Request ids belong to their caller (issue 8, point 2): each attack of the issue, and that it fails.
 */

let svc: TestService;
let client: Client<typeof SessionControl>;
let zitadel: FakeZitadel;
/** Sessions the Zitadel fake holds: id -> {user, token}. */
const idpSessions = new Map<string, { user: string; token: string }>();
/** While true, the fake answers our service's own DeleteSession calls (no token) UNAVAILABLE. */
let idpDown = false;

const as = (role: Role) => ({ headers: bearer(svc.keys[role]), timeoutMs: 5000 });

beforeAll(async () => {
  zitadel = await FakeZitadel.start();
  zitadel.listSessions = (req: ListSessionsRequest) => {
    const q = req.queries.find((x) => x.query.case === "userIdQuery")?.query;
    const user = q?.case === "userIdQuery" ? q.value.id : "";
    const sessions = [...idpSessions].filter(([, s]) => s.user === user).map(([id, s]) => ({ id, factors: { user: { id: s.user } } }));
    return { response: { sessions, details: { totalResult: BigInt(sessions.length) } } };
  };
  zitadel.deleteSession = (req: DeleteSessionRequest) => {
    const s = idpSessions.get(req.sessionId);
    if (req.sessionToken !== undefined && req.sessionToken === "poison") return { error: { code: Code.FailedPrecondition, message: "Errors.Session.Terminated" } };
    if (req.sessionToken !== undefined && req.sessionToken !== s?.token) {
      return { error: { code: Code.PermissionDenied, message: "Errors.Session.Token.Invalid (COMMAND-sGr42)", details: [{ "@type": "type.googleapis.com/zitadel.v1.ErrorDetail", id: "COMMAND-sGr42", message: "Errors.Session.Token.Invalid" }] } };
    }
    if (idpDown) return { error: { code: Code.Unavailable, message: "upstream down" } };
    if (!idpSessions.delete(req.sessionId)) return { error: { code: Code.NotFound, message: "Errors.Session.NotFound (QUERY-1n8sa)" } };
    return { response: { details: { sequence: 7n, changeDate: timestampFromDate(new Date()), resourceOwner: "org-idp" } } };
  };
  process.env["RI_ZITADEL_PAT"] = `pat-${randomUUID()}`;
  svc = await startTestService({}, {
    providers: [
      { name: "local", type: "local" },
      { name: "idp", type: "zitadel", base_url: zitadel.url, token: "env:RI_ZITADEL_PAT", max_attempts: 1, breaker_failures: 1000, timeout_ms: 3000 },
    ],
    operations: { poll_ms: 50, lease_ms: 5000, retry_initial_ms: 100, retry_max_ms: 300, call_timeout_ms: 4000, max_age_ms: 120_000 },
  });
  client = grpcClient(svc);
});
afterAll(async () => {
  await svc?.stop();
  await zitadel?.stop();
});

async function newSession(user = "bob") {
  return client.createSession({ userId: user, resourceOwner: "org-ri" }, as("admin"));
}

/** A refused call's code, message and details, as bytes. */
async function refusal(p: Promise<unknown>) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  if (!err) throw new Error("expected the call to be refused");
  return { code: Code[err.code], message: err.rawMessage, details: detailBytes(err) };
}

async function endedBy(sessionId: string): Promise<string | undefined> {
  return (await client.getSession({ sessionId }, as("admin"))).session?.termination?.terminatedBy;
}

/** The id a caller could compute before: SHA-256 of public values (operation, provider, session), in a version 5 layout. */
function plainSha256Id(operationId: string, provider: string, sessionId: string): string {
  const h = createHash("sha256").update(`${operationId}\0${provider}\0${sessionId}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const untilDone = (id: string) => operationDone(client, id, as("reader").headers);

describe("a request id belongs to the principal that used it", () => {
  it("another principal's request id replays nothing: a caller without permission gets its own refusal, not the admin's answer", async () => {
    const s = await newSession();
    const requestId = randomUUID();
    const first = await client.terminate({ sessionId: s.sessionId, requestId }, as("admin"));
    expect(first.details?.resourceOwner).toBe("org-ri");

    const fresh = await refusal(client.terminate({ sessionId: s.sessionId, requestId: randomUUID() }, as("nobody")));
    expect(fresh.code).toBe("PermissionDenied");
    expect(await refusal(client.terminate({ sessionId: s.sessionId, requestId }, as("nobody")))).toEqual(fresh);
    // Not "already used for another session" either: for another session, the very refusal of a fresh id.
    const other = await newSession();
    expect(await refusal(client.terminate({ sessionId: other.sessionId, requestId }, as("nobody")))).toEqual(await refusal(client.terminate({ sessionId: other.sessionId, requestId: randomUUID() }, as("nobody"))));
    // A caller that may end the other session: the admin's id is a new id to it.
    const res = await client.terminate({ sessionId: other.sessionId, requestId }, as("deleter"));
    expect(res.alreadyTerminated).toBe(false);
    expect(await endedBy(other.sessionId)).toBe("deleter");
  });

  it("a request id first used with a wrong token does not block the admin's call with it", async () => {
    const s = await newSession();
    const requestId = randomUUID();
    for (const role of ["nobody", "reader", "deleter"] as const) {
      const err = await refusal(client.terminate({ sessionId: s.sessionId, sessionToken: "wrong-token", requestId }, as(role)));
      expect(err.code).toBe("PermissionDenied");
    }
    const res = await client.terminate({ sessionId: s.sessionId, requestId }, as("admin"));
    expect(res.alreadyTerminated).toBe(false);
    expect(await endedBy(s.sessionId)).toBe("admin");
    // And the admin's answer is its own to replay.
    expect(await client.terminate({ sessionId: s.sessionId, requestId }, as("admin"))).toEqual(res);
  });

  it("a caller's own refusal is not replayed either: the same id with the right token ends the session", async () => {
    const s = await newSession();
    const requestId = randomUUID();
    expect((await refusal(client.terminate({ sessionId: s.sessionId, sessionToken: "wrong-token", requestId }, as("admin")))).code).toBe("PermissionDenied");
    expect((await refusal(client.terminate({ sessionId: s.sessionId, requestId }, as("nobody")))).code).toBe("PermissionDenied");
    const res = await client.terminate({ sessionId: s.sessionId, sessionToken: s.sessionToken, requestId }, as("nobody"));
    expect(res.alreadyTerminated).toBe(false);
    expect(await endedBy(s.sessionId)).toBe("nobody");
  });
});

describe("a caller let through on its token alone gets no replay before the upstream checks the token", () => {
  it("without session.delete: a Zitadel session ended with the right token and request id R; a wrong token with R is PERMISSION_DENIED, not the recorded OK", async () => {
    const sessionId = `idp-${randomBytes(8).toString("hex")}`;
    const token = `t-${randomBytes(8).toString("hex")}`;
    idpSessions.set(sessionId, { user: "carol", token });
    const requestId = randomUUID();
    const first = await client.terminate({ sessionId, provider: "idp", sessionToken: token, requestId }, as("reader"));
    expect(first.details?.resourceOwner).toBe("org-idp");
    expect(idpSessions.has(sessionId)).toBe(false);

    const wrong = await refusal(client.terminate({ sessionId, provider: "idp", sessionToken: "wrong-token", requestId }, as("reader")));
    expect(wrong.code).toBe("PermissionDenied");
    // The very refusal a fresh request id gets: the reused id adds nothing.
    expect(wrong).toEqual(await refusal(client.terminate({ sessionId, provider: "idp", sessionToken: "wrong-token", requestId: randomUUID() }, as("reader"))));
  });
});

describe("TerminateUser's request ids belong to their caller too", () => {
  it("another principal's request id is a new id: it neither returns that operation nor blocks the call", async () => {
    const user = `u-${randomBytes(6).toString("hex")}`;
    const s = await newSession(user);
    const requestId = randomUUID();
    // Recorded first by another principal, for another user: formerly INVALID_ARGUMENT for the admin.
    const planted = (await client.terminateUser({ userId: `${user}-decoy`, requestId, providers: ["local"] }, as("deleter"))).operation!;
    const own = (await client.terminateUser({ userId: user, requestId, providers: ["local"] }, as("admin"))).operation!;
    expect(own.id).not.toBe(planted.id);
    expect([own.principal, own.userId, own.done]).toEqual(["admin", user, true]);
    expect(await endedBy(s.sessionId)).toBe("admin");
    // The same principal's repeat is still its own operation.
    expect((await client.terminateUser({ userId: user, requestId, providers: ["local"] }, as("admin"))).operation!.id).toBe(own.id);
  });
});

describe("TerminateUser's own request ids", () => {
  it("cannot be computed by a caller, and nothing a caller records under them stops the work", async () => {
    const user = `u-${randomBytes(6).toString("hex")}`;
    const local = [await newSession(user), await newSession(user)].map((s) => s.sessionId);
    const idp = Array.from({ length: 4 }, () => `idp-${randomBytes(8).toString("hex")}`);
    for (const id of idp) idpSessions.set(id, { user, token: `t-${randomBytes(8).toString("hex")}` });

    // The upstream is down: the operation's idp work waits for its retries, the attacker's window.
    idpDown = true;
    const { operation } = await client.terminateUser({ userId: user, providers: ["local", "idp"], reason: "compromised" }, as("admin"));
    const opId = operation!.id;
    expect(operation!.done).toBe(false);

    // A session.read key sees the operation and its attempts, with the request ids they used.
    const attempts = async () => (await client.listEvents({ userId: user, provider: "idp", pageSize: 1000 }, as("reader"))).events;
    await until("an attempt at each idp session", async () => new Set((await attempts()).filter((e) => e.operationId === opId).map((e) => e.sessionId)).size >= idp.length, { everyMs: 25 });
    const used = new Map((await attempts()).filter((e) => e.operationId === opId).map((e) => [e.sessionId, e.requestId]));

    for (const sessionId of idp) {
      const computed = plainSha256Id(opId, "idp", sessionId);
      // The id a caller could compute from public values is not the one the work uses.
      expect(used.get(sessionId)).not.toBe(computed);
      // Pre-recorded outcomes, under the computed id and even under the real one seen in the audit trail:
      // refusals (a wrong token), and a failure no retry mends (FAILED_PRECONDITION).
      for (const requestId of [computed, used.get(sessionId)!]) {
        expect((await refusal(client.terminate({ sessionId, provider: "idp", sessionToken: "wrong-token", requestId }, as("reader")))).code).toBe("PermissionDenied");
        const poisoned = await client.terminate({ sessionId, provider: "idp", sessionToken: "poison", requestId }, as("reader")).catch((e: unknown) => ConnectError.from(e));
        expect((poisoned as ConnectError).findDetails(ErrorInfoSchema)[0]?.reason).toBe("UPSTREAM_FAILED_PRECONDITION");
      }
    }

    idpDown = false;
    const done = await untilDone(opId);
    // Every session is ended: none failed, none left.
    for (const p of done.providers) {
      expect({ provider: p.provider, failures: p.failures.length, pending: p.sessionsPending }).toEqual({ provider: p.provider, failures: 0, pending: 0 });
    }
    expect(done.providers.find((p) => p.provider === "idp")?.sessionsEnded).toBe(idp.length);
    expect(idp.filter((id) => idpSessions.has(id))).toEqual([]);
    for (const id of local) expect(await endedBy(id)).toBe("admin");

    // The local ends, too, used ids no caller could compute.
    const localEvents = (await client.listEvents({ userId: user, provider: "local", pageSize: 1000 }, as("reader"))).events.filter((e) => e.operationId === opId);
    expect(localEvents.map((e) => e.sessionId).sort()).toEqual([...local].sort());
    for (const e of localEvents) expect(e.requestId).not.toBe(plainSha256Id(opId, "local", e.sessionId));
  });
});
