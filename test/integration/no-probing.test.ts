import { randomBytes, randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SessionService, type DeleteSessionRequest } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { FakeZitadel } from "../fakes/zitadel.js";
import { detailBytes, failure } from "../helpers/errors.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";

/*
 * No probing: for a caller that may not end a session, an existing id (active or ended) and a
 * missing one get byte-identical answers on every surface, with a wrong token or without one,
 * whether the session lives in the embedded store or upstream.
 */

let svc: TestService;
/** The same, with a Zitadel upstream as its default provider: DeleteSession and REST go there too. */
let upstream: TestService;
let zitadel: FakeZitadel;
/** Sessions the Zitadel fake holds: id -> token. */
const idpSessions = new Map<string, string>();
const DEADLINE = { timeoutMs: 5000 };

beforeAll(async () => {
  svc = await startTestService();
  zitadel = await FakeZitadel.start();
  // Zitadel as it answers: a wrong token for a session it has, NOT_FOUND for one it has not.
  zitadel.deleteSession = (req: DeleteSessionRequest) => {
    const token = idpSessions.get(req.sessionId);
    if (token === undefined) return { error: { code: Code.NotFound, message: "Errors.Session.NotExisting (COMMAND-x0099887)" } };
    if (req.sessionToken !== undefined && req.sessionToken !== token) {
      return { error: { code: Code.PermissionDenied, message: "Errors.Session.Token.Invalid (COMMAND-sGr42)", details: [{ "@type": "type.googleapis.com/zitadel.v1.ErrorDetail", id: "COMMAND-sGr42", message: "Errors.Session.Token.Invalid" }] } };
    }
    idpSessions.delete(req.sessionId);
    return { response: { details: { sequence: 5n, changeDate: timestampFromDate(new Date()), resourceOwner: "org-idp" } } };
  };
  process.env["NP_ZITADEL_PAT"] = `pat-${randomUUID()}`;
  upstream = await startTestService({}, {
    providers: [
      { name: "idp", type: "zitadel", base_url: zitadel.url, token: "env:NP_ZITADEL_PAT", max_attempts: 1, breaker_failures: 1000, timeout_ms: 3000 },
      { name: "local", type: "local" },
    ],
    default_provider: "idp",
  });
});
afterAll(async () => {
  await svc?.stop();
  await upstream?.stop();
  await zitadel?.stop();
});

/** Everything a gRPC client sees of a refusal: code, message, each detail's type and bytes, and the trailers. */
function fingerprint(err: unknown): unknown {
  expect(err).toBeInstanceOf(ConnectError);
  const e = err as ConnectError;
  const details = detailBytes(e);
  const metadata = [...e.metadata.entries()].filter(([k]) => k !== "date").sort();
  return { code: Code[e.code], message: e.rawMessage, details, metadata };
}

async function refusal(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return fingerprint(err);
  }
  throw new Error("expected the call to be refused");
}

/** Ids as the caller may try them: a live session, one ended here, and one that never existed (same shape). */
interface Ids {
  active: string;
  ended: string;
  missing: string;
}

async function upstreamIds(): Promise<Ids> {
  const [active, ended, missing] = Array.from({ length: 3 }, () => randomBytes(16).toString("hex"));
  idpSessions.set(active!, `t-${randomUUID()}`);
  idpSessions.set(ended!, `t-${randomUUID()}`);
  await grpcClient(upstream).terminate({ sessionId: ended! }, { headers: bearer(upstream.keys.admin), ...DEADLINE });
  return { active: active!, ended: ended!, missing: missing! };
}

async function localIds(): Promise<Ids> {
  const admin = { headers: bearer(svc.keys.admin), ...DEADLINE };
  const client = grpcClient(svc);
  const active = (await client.createSession({ userId: "bob", resourceOwner: "org-probe" }, admin)).sessionId;
  const ended = (await client.createSession({ userId: "bob", resourceOwner: "org-probe" }, admin)).sessionId;
  await client.terminate({ sessionId: ended }, admin);
  const missing = active.slice(0, -4) + (active.endsWith("0000") ? "1111" : "0000");
  expect((await client.getSession({ sessionId: missing }, admin).catch((e: ConnectError) => e)) as ConnectError).toHaveProperty("code", Code.NotFound);
  return { active, ended, missing };
}

/** Each surface's answer to one attempt, as bytes a client can compare. */
const SURFACES: Record<string, (target: TestService, role: Role, sessionId: string, token: string | undefined) => Promise<unknown>> = {
  "SessionControl.Terminate (gRPC)": (target, role, sessionId, token) =>
    refusal(grpcClient(target).terminate({ sessionId, ...(token !== undefined && { sessionToken: token }) }, { headers: bearer(target.keys[role]), ...DEADLINE })),
  "SessionControl.Terminate (Connect JSON, raw body)": async (target, role, sessionId, token) =>
    rawAnswer(
      await fetch(`${target.baseUrl}/sessioncontrol.v1.SessionControl/Terminate`, {
        method: "POST",
        headers: { "content-type": "application/json", ...bearer(target.keys[role]) },
        body: JSON.stringify({ sessionId, ...(token !== undefined && { sessionToken: token }) }),
        signal: AbortSignal.timeout(5000),
      }),
    ),
  "zitadel.session.v2.SessionService/DeleteSession (gRPC)": (target, role, sessionId, token) =>
    refusal(createClient(SessionService, createGrpcTransport({ baseUrl: target.baseUrl })).deleteSession({ sessionId, ...(token !== undefined && { sessionToken: token }) }, { headers: bearer(target.keys[role]), ...DEADLINE })),
  "REST DELETE /v2/sessions/{id}": async (target, role, sessionId, token) =>
    rawAnswer(
      await fetch(`${target.baseUrl}/v2/sessions/${sessionId}`, {
        method: "DELETE",
        headers: { "content-type": "application/json", accept: "application/json", ...bearer(target.keys[role]) },
        body: JSON.stringify(token !== undefined ? { sessionToken: token } : {}),
        signal: AbortSignal.timeout(5000),
      }),
    ),
};

async function rawAnswer(res: Response): Promise<unknown> {
  return { status: res.status, contentType: res.headers.get("content-type"), body: Buffer.from(await res.arrayBuffer()).toString("hex") };
}

/** Where the sessions live: the embedded store, or a Zitadel upstream (the default provider of its service). */
const BACKENDS = [
  { backend: "embedded store", target: () => svc, ids: localIds, live: async (id: string) => (await grpcClient(svc).getSession({ sessionId: id }, { headers: bearer(svc.keys.admin), ...DEADLINE })).session?.termination === undefined },
  { backend: "Zitadel upstream", target: () => upstream, ids: upstreamIds, live: async (id: string) => idpSessions.has(id) },
];

/** Callers that may not end bob's sessions: no permission, session.read only, another user's own key. */
const UNPERMITTED: Role[] = ["nobody", "reader", "alice"];
const TOKENS = { "a wrong token": "wrong-token", "no token": undefined };

describe.each(BACKENDS)("$backend", ({ target, ids, live }) => {
  describe.each(Object.keys(SURFACES))("%s", (surface) => {
    const attempt = SURFACES[surface]!;

    it.each(UNPERMITTED.flatMap((role) => Object.keys(TOKENS).map((t) => ({ role, t }))))("$role with $t: live, ended and missing ids answer the same bytes", async ({ role, t }) => {
      const { active, ended, missing } = await ids();
      const token = TOKENS[t as keyof typeof TOKENS];
      const [a, e, m] = [await attempt(target(), role, active, token), await attempt(target(), role, ended, token), await attempt(target(), role, missing, token)];
      expect(a).toEqual(m);
      expect(e).toEqual(m);
      expect(await live(active)).toBe(true);
    });
  });
});

describe("the embedded store's refusals", () => {
  it.each(Object.keys(SURFACES))("%s: a wrong token is the very refusal of a caller without permission, even for a caller holding session.delete", async (surface) => {
    const attempt = SURFACES[surface]!;
    const { active, missing } = await localIds();
    const denied = await attempt(svc, "nobody", missing, undefined);
    expect(await attempt(svc, "deleter", active, "wrong-token")).toEqual(denied);
    expect(await attempt(svc, "admin", active, "wrong-token")).toEqual(denied);
  });

  it("is PERMISSION_DENIED with reason PERMISSION_DENIED and no hint of the session", async () => {
    const { active, missing } = await localIds();
    for (const sessionId of [active, missing]) {
      const err = await failure(grpcClient(svc).terminate({ sessionId, sessionToken: "wrong-token" }, { headers: bearer(svc.keys.nobody), ...DEADLINE }));
      expect(err.code).toBe(Code.PermissionDenied);
      expect(err.findDetails(ErrorInfoSchema).map((i) => i.reason)).toEqual(["PERMISSION_DENIED"]);
      expect(err.rawMessage).not.toContain(sessionId);
    }
  });

  it("a caller holding session.delete still learns that an id is missing when it presents no token", async () => {
    const { missing } = await localIds();
    const err = await failure(grpcClient(svc).terminate({ sessionId: missing }, { headers: bearer(svc.keys.deleter), ...DEADLINE }));
    expect(err.code).toBe(Code.NotFound);
  });
});

describe("the Zitadel upstream's answers", () => {
  it("tell a caller holding session.delete what the upstream said; the audit trail keeps it for every caller", async () => {
    const { active, missing } = await upstreamIds();
    const as = (role: Role) => ({ headers: bearer(upstream.keys[role]), ...DEADLINE });
    const client = grpcClient(upstream);
    expect((await failure(client.terminate({ sessionId: active, sessionToken: "wrong-token" }, as("deleter")))).findDetails(ErrorInfoSchema)[0]?.reason).toBe("SESSION_TOKEN_INVALID");
    expect((await failure(client.terminate({ sessionId: missing }, as("deleter")))).code).toBe(Code.NotFound);
    await failure(client.terminate({ sessionId: active, sessionToken: "wrong-token" }, as("nobody")));
    await failure(client.terminate({ sessionId: missing, sessionToken: "wrong-token" }, as("nobody")));
    const recorded = async (sessionId: string) => (await client.listEvents({ sessionId, principal: "nobody" }, as("reader"))).events.map((e) => [e.code, e.errorReason]);
    expect(await recorded(active)).toEqual([["PERMISSION_DENIED", "SESSION_TOKEN_INVALID"]]);
    expect(await recorded(missing)).toEqual([["NOT_FOUND", "SESSION_NOT_FOUND"]]);
  });

  it("a caller's own earlier request id does not replay what the upstream said to it", async () => {
    const { missing } = await upstreamIds();
    const requestId = randomUUID();
    const call = () => refusal(grpcClient(upstream).terminate({ sessionId: missing, sessionToken: "wrong-token", requestId }, { headers: bearer(upstream.keys.nobody), ...DEADLINE }));
    const first = await call();
    expect(await call()).toEqual(first);
  });
});
