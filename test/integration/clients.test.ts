import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { allClients, codeOf, type ClientUnderTest } from "../helpers/clients.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";

const { createSession, getSession, terminate, listSessions } = SessionControl.method;

let svc: TestService;
let clients: ClientUnderTest[];

beforeAll(async () => {
  svc = await startTestService();
  clients = allClients(svc.baseUrl);
});
afterAll(async () => {
  for (const c of clients) c.close();
  await svc.stop();
});

describe.each(["@grpc/grpc-js", "connect-node gRPC (h2c)", "connect-node Connect JSON (HTTP/1.1)", "connect-node Connect binary (HTTP/2)", "connect-web gRPC-web (fetch)"])(
  "%s",
  (name) => {
    const client = () => clients.find((c) => c.name === name)!;

    it("creates, reads, ends, and ends again a session", async () => {
      const admin = bearer(svc.keys.admin);
      const created = await client().call(createSession, { userId: `user-${name}`, resourceOwner: "org-1", metadata: { k: new Uint8Array([1, 2]) } }, admin);
      expect(created.sessionId).toMatch(/^[0-9a-f]{32}$/);
      expect(Buffer.from(created.sessionToken, "base64url")).toHaveLength(32);
      expect(created.details?.sequence).toBeGreaterThan(0n);

      const got = await client().call(getSession, { sessionId: created.sessionId }, admin);
      expect(got.session?.userId).toBe(`user-${name}`);
      expect(got.session?.resourceOwner).toBe("org-1");
      expect([...got.session!.metadata["k"]!]).toEqual([1, 2]);
      expect(got.session?.termination).toBeUndefined();

      // Ended with its token by a caller that holds no permission at all.
      const ended = await client().call(terminate, { sessionId: created.sessionId, sessionToken: created.sessionToken, reason: "test" }, bearer(svc.keys.nobody));
      expect(ended.alreadyTerminated).toBe(false);
      expect(ended.provider).toBe("local");
      expect(ended.details?.sequence).toBeGreaterThan(created.details!.sequence);
      expect(ended.details?.resourceOwner).toBe("org-1");

      const after = await client().call(getSession, { sessionId: created.sessionId }, admin);
      expect(after.session?.termination?.terminatedBy).toBe("nobody");
      expect(after.session?.termination?.reason).toBe("test");
      expect(after.session?.sequence).toBe(ended.details?.sequence);

      const again = await client().call(terminate, { sessionId: created.sessionId, sessionToken: created.sessionToken }, bearer(svc.keys.nobody));
      expect(again.alreadyTerminated).toBe(true);
      expect(again.details?.sequence).toBe(ended.details?.sequence);
      expect(again.details?.changeDate).toEqual(ended.details?.changeDate);

      const listed = await client().call(listSessions, { userId: `user-${name}` }, admin);
      expect(listed.sessions.map((s) => s.id)).toEqual([created.sessionId]);
    });

    it("refuses a call without an API key", async () => {
      expect(await codeOf(client().call(getSession, { sessionId: "x" }))).toBe(Code.Unauthenticated);
      expect(await codeOf(client().call(getSession, { sessionId: "x" }, bearer("sck_unknown")))).toBe(Code.Unauthenticated);
    });
  },
);
