import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { detailBytes } from "../helpers/errors.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";

/*
 * No probing: for a caller that may not end a session, an existing id (active or ended) and a
 * missing one get byte-identical answers on every surface, with a wrong token or without one.
 */

let svc: TestService;
const DEADLINE = { timeoutMs: 5000 };

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

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

/** Ids as the caller may try them: an active session, an ended one, and one that never existed (same shape). */
async function ids(): Promise<{ active: string; ended: string; missing: string }> {
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
const SURFACES: Record<string, (role: Role, sessionId: string, token: string | undefined) => Promise<unknown>> = {
  "SessionControl.Terminate (gRPC)": (role, sessionId, token) =>
    refusal(grpcClient(svc).terminate({ sessionId, ...(token !== undefined && { sessionToken: token }) }, { headers: bearer(svc.keys[role]), ...DEADLINE })),
  "SessionControl.Terminate (Connect JSON, raw body)": async (role, sessionId, token) => {
    const res = await fetch(`${svc.baseUrl}/sessioncontrol.v1.SessionControl/Terminate`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(svc.keys[role]) },
      body: JSON.stringify({ sessionId, ...(token !== undefined && { sessionToken: token }) }),
      signal: AbortSignal.timeout(5000),
    });
    return { status: res.status, contentType: res.headers.get("content-type"), body: Buffer.from(await res.arrayBuffer()).toString("hex") };
  },
  "zitadel.session.v2.SessionService/DeleteSession (gRPC)": (role, sessionId, token) =>
    refusal(createClient(SessionService, createGrpcTransport({ baseUrl: svc.baseUrl })).deleteSession({ sessionId, ...(token !== undefined && { sessionToken: token }) }, { headers: bearer(svc.keys[role]), ...DEADLINE })),
  "REST DELETE /v2/sessions/{id}": async (role, sessionId, token) => {
    const res = await fetch(`${svc.baseUrl}/v2/sessions/${sessionId}`, {
      method: "DELETE",
      headers: { "content-type": "application/json", accept: "application/json", ...bearer(svc.keys[role]) },
      body: JSON.stringify(token !== undefined ? { sessionToken: token } : {}),
      signal: AbortSignal.timeout(5000),
    });
    return { status: res.status, contentType: res.headers.get("content-type"), body: Buffer.from(await res.arrayBuffer()).toString("hex") };
  },
};

/** Callers that may not end bob's sessions: no permission, session.read only, another user's own key. */
const UNPERMITTED: Role[] = ["nobody", "reader", "alice"];
const TOKENS = { "a wrong token": "wrong-token", "no token": undefined };

describe.each(Object.keys(SURFACES))("%s", (surface) => {
  const attempt = SURFACES[surface]!;

  it.each(UNPERMITTED.flatMap((role) => Object.keys(TOKENS).map((t) => ({ role, t }))))("$role with $t: existing and missing ids answer the same bytes", async ({ role, t }) => {
    const { active, ended, missing } = await ids();
    const token = TOKENS[t as keyof typeof TOKENS];
    const [a, e, m] = [await attempt(role, active, token), await attempt(role, ended, token), await attempt(role, missing, token)];
    expect(a).toEqual(m);
    expect(e).toEqual(m);
    // And the session stays as it was.
    const got = await grpcClient(svc).getSession({ sessionId: active }, { headers: bearer(svc.keys.admin), ...DEADLINE });
    expect(got.session?.termination).toBeUndefined();
  });

  it("a wrong token is the very refusal of a caller without permission, even for a caller holding session.delete", async () => {
    const { active, missing } = await ids();
    const denied = await attempt("nobody", missing, undefined);
    expect(await attempt("deleter", active, "wrong-token")).toEqual(denied);
    expect(await attempt("admin", active, "wrong-token")).toEqual(denied);
  });
});

describe("what a refusal says", () => {
  it("is PERMISSION_DENIED with reason PERMISSION_DENIED and no hint of the session", async () => {
    const { active, missing } = await ids();
    const client = grpcClient(svc);
    for (const sessionId of [active, missing]) {
      const err = await client.terminate({ sessionId, sessionToken: "wrong-token" }, { headers: bearer(svc.keys.nobody), ...DEADLINE }).catch((e: unknown) => ConnectError.from(e));
      expect(err).toBeInstanceOf(ConnectError);
      const ce = err as ConnectError;
      expect(ce.code).toBe(Code.PermissionDenied);
      expect(ce.findDetails(ErrorInfoSchema).map((i) => i.reason)).toEqual(["PERMISSION_DENIED"]);
      expect(ce.rawMessage).not.toContain(sessionId);
    }
  });

  it("a caller holding session.delete still learns that an id is missing when it presents no token", async () => {
    const { missing } = await ids();
    const err = await grpcClient(svc).terminate({ sessionId: missing }, { headers: bearer(svc.keys.deleter), ...DEADLINE }).catch((e: unknown) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.NotFound);
  });
});
