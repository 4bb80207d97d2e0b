import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createServerTransport } from "@zitadel/client/node";
import { createSessionServiceClient } from "@zitadel/client/v2";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { connectGrpcClient, type ClientUnderTest } from "../helpers/clients.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";

const { createSession, getSession } = SessionControl.method;

let svc: TestService;
let grpc: ClientUnderTest;
let zitadel: ReturnType<typeof createSessionServiceClient>;

beforeAll(async () => {
  svc = await startTestService();
  grpc = connectGrpcClient(svc.baseUrl);
  // Exactly how a Zitadel server-side app builds its client: a personal access token, gRPC over HTTP/2.
  zitadel = createSessionServiceClient(createServerTransport(svc.keys.admin, transportOptions()));
});
afterAll(async () => {
  await svc.stop();
});

/**
 * The options a Zitadel app passes. gRPC is always HTTP/2, so GrpcTransportOptions has no
 * httpVersion; apps pass it anyway, and it must be harmless.
 */
function transportOptions() {
  const opts = { baseUrl: svc.baseUrl, httpVersion: "2" as const };
  return opts;
}

async function newSession(userId: string) {
  return grpc.call(createSession, { userId, resourceOwner: "org-z" }, bearer(svc.keys.admin));
}

async function connectErrorOf(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ConnectError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

describe("@zitadel/client SessionService pointed at session-control", () => {
  it("deleteSession ends a session created through CreateSession", async () => {
    const created = await newSession("zitadel-user");
    const res = await zitadel.deleteSession({ sessionId: created.sessionId, sessionToken: created.sessionToken });
    expect(res.details).toBeDefined();
    expect(res.details!.sequence).toBeGreaterThan(created.details!.sequence);
    expect(res.details!.resourceOwner).toBe("org-z");
    expect(res.details!.changeDate).toBeDefined();
    expect(res.details!.creationDate).toEqual(created.details!.creationDate);

    const got = await grpc.call(getSession, { sessionId: created.sessionId }, bearer(svc.keys.admin));
    expect(got.session?.termination).toBeDefined();
    expect(got.session?.termination?.terminatedBy).toBe("admin");
    expect(got.session?.sequence).toBe(res.details!.sequence);

    // Idempotent through this surface too: the same details again.
    const again = await zitadel.deleteSession({ sessionId: created.sessionId, sessionToken: created.sessionToken });
    expect(again.details?.sequence).toBe(res.details!.sequence);
  });

  it("a wrong session token is PERMISSION_DENIED, even for the admin key, and the session stays open", async () => {
    const created = await newSession("zitadel-user-2");
    const err = await connectErrorOf(zitadel.deleteSession({ sessionId: created.sessionId, sessionToken: "not-the-token" }));
    expect(err.code).toBe(Code.PermissionDenied);
    const info = err.findDetails(ErrorInfoSchema);
    expect(info.map((i) => i.reason)).toContain("PERMISSION_DENIED");

    const got = await grpc.call(getSession, { sessionId: created.sessionId }, bearer(svc.keys.admin));
    expect(got.session?.termination).toBeUndefined();
  });

  it("an unknown session id is NOT_FOUND for the admin key", async () => {
    const err = await connectErrorOf(zitadel.deleteSession({ sessionId: "0".repeat(32) }));
    expect(err.code).toBe(Code.NotFound);
  });

  it("without a valid token the client gets UNAUTHENTICATED", async () => {
    const anon = createSessionServiceClient(createServerTransport("sck_not_a_key", transportOptions()));
    const created = await newSession("zitadel-user-3");
    const err = await connectErrorOf(anon.deleteSession({ sessionId: created.sessionId, sessionToken: created.sessionToken }));
    expect(err.code).toBe(Code.Unauthenticated);
  });

  it("the other SessionService methods are UNIMPLEMENTED", async () => {
    const created = await newSession("zitadel-user-4");
    expect((await connectErrorOf(zitadel.getSession({ sessionId: created.sessionId }))).code).toBe(Code.Unimplemented);
    expect((await connectErrorOf(zitadel.listSessions({}))).code).toBe(Code.Unimplemented);
    expect((await connectErrorOf(zitadel.createSession({}))).code).toBe(Code.Unimplemented);
    expect((await connectErrorOf(zitadel.setSession({ sessionId: created.sessionId }))).code).toBe(Code.Unimplemented);
  });
});
