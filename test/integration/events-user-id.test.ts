import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";

/* Events record the ended session's user id, so that ListEvents {userId} finds them (issue 8, point 7). */

let svc: TestService;
let client: Client<typeof SessionControl>;
const as = (role: Role) => ({ headers: bearer(svc.keys[role]), timeoutMs: 5000 });

beforeAll(async () => {
  svc = await startTestService();
  client = grpcClient(svc);
});
afterAll(() => svc.stop());

async function newSession(userId: string) {
  return client.createSession({ userId, resourceOwner: "org-ev" }, as("admin"));
}

/** The user id and code of each event of a session, oldest first. */
async function eventsOf(sessionId: string) {
  const { events } = await client.listEvents({ sessionId, pageSize: 100 }, as("reader"));
  return events.reverse().map((e) => [e.principal, e.userId, e.code]);
}

describe("the audit event of an attempt on a session names the session's user when the caller named none", () => {
  it("on every surface: Terminate, Zitadel's DeleteSession and REST", async () => {
    const [a, b, c] = [await newSession("carol"), await newSession("carol"), await newSession("carol")];
    await client.terminate({ sessionId: a.sessionId, sessionToken: a.sessionToken }, as("nobody"));
    await createClient(SessionService, createGrpcTransport({ baseUrl: svc.baseUrl })).deleteSession({ sessionId: b.sessionId }, as("deleter"));
    const rest = await fetch(`${svc.baseUrl}/v2/sessions/${c.sessionId}`, {
      method: "DELETE",
      headers: { "content-type": "application/json", ...bearer(svc.keys.admin) },
      body: JSON.stringify({ sessionToken: c.sessionToken }),
      signal: AbortSignal.timeout(5000),
    });
    expect(rest.status).toBe(200);
    expect(await eventsOf(a.sessionId)).toEqual([["nobody", "carol", "OK"]]);
    expect(await eventsOf(b.sessionId)).toEqual([["deleter", "carol", "OK"]]);
    expect(await eventsOf(c.sessionId)).toEqual([["admin", "carol", "OK"]]);
    const { events } = await client.listEvents({ userId: "carol", pageSize: 100 }, as("reader"));
    expect(events.map((e) => e.sessionId).sort()).toEqual([a.sessionId, b.sessionId, c.sessionId].sort());
  });

  it("for refused attempts and ends of ended sessions too; a user id the caller sent is kept", async () => {
    const s = await newSession("dave");
    await client.terminate({ sessionId: s.sessionId }, as("nobody")).catch(() => undefined);
    await client.terminate({ sessionId: s.sessionId, sessionToken: "wrong-token" }, as("deleter")).catch(() => undefined);
    await client.terminate({ sessionId: s.sessionId }, as("admin"));
    await client.terminate({ sessionId: s.sessionId }, as("deleter"));
    await client.terminate({ sessionId: s.sessionId, userId: "named-by-caller" }, as("admin"));
    expect(await eventsOf(s.sessionId)).toEqual([
      ["nobody", "dave", "PERMISSION_DENIED"],
      ["deleter", "dave", "PERMISSION_DENIED"],
      ["admin", "dave", "OK"],
      ["deleter", "dave", "OK"],
      ["admin", "named-by-caller", "OK"],
    ]);
  });

  it("an unknown session has no user to name", async () => {
    const missing = "0".repeat(32);
    await client.terminate({ sessionId: missing }, as("admin")).catch(() => undefined);
    expect(await eventsOf(missing)).toEqual([["admin", "", "NOT_FOUND"]]);
  });
});
