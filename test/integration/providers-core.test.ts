import { randomUUID } from "node:crypto";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { SqliteStores } from "../../src/store/sqlite.js";
import { requestScope } from "../../src/store/store.js";
import { failure } from "../helpers/errors.js";
import { bearer, grpcClient, METRICS_TOKEN, METRICS_WITH_TOKEN, startTestService, type TestService } from "../helpers/service.js";

let svc: TestService;
let client: Client<typeof SessionControl>;
const admin = () => ({ headers: bearer(svc.keys.admin) });

beforeAll(async () => {
  svc = await startTestService({}, { metrics: METRICS_WITH_TOKEN });
  client = grpcClient(svc);
});
afterAll(() => svc.stop());

describe("providers on the embedded default", () => {
  it("ListProviders lists local as the default, with its health and no secret", async () => {
    const before = await client.listProviders({}, admin());
    expect(before.providers.map((p) => [p.name, p.type, p.isDefault, p.health?.breakerState])).toEqual([["local", "local", true, "closed"]]);
    const s = await client.createSession({ userId: "lp" }, admin());
    await client.terminate({ sessionId: s.sessionId }, admin());
    const after = await client.listProviders({}, admin());
    expect(after.providers[0]!.health?.lastSuccessTime).toBeDefined();
    expect(await failure(client.listProviders({}))).toHaveProperty("code", Code.Unauthenticated);
  });

  it("refuses options the provider does not take, naming each", async () => {
    const err = await failure(client.terminate({ sessionId: "x", options: { gameId: "1", other: "2" } }, admin()));
    expect(err.code).toBe(Code.InvalidArgument);
    const fields = err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field);
    expect(fields).toEqual(['options["gameId"]', 'options["other"]']);
  });

  it("answers a repeated request_id with the recorded outcome, and records it in the audit trail", async () => {
    const s = await client.createSession({ userId: "idem", resourceOwner: "o" }, admin());
    const requestId = randomUUID();
    const first = await client.terminate({ sessionId: s.sessionId, requestId, reason: "first" }, admin());
    const again = await client.terminate({ sessionId: s.sessionId, requestId, reason: "again" }, admin());
    expect(again).toEqual(first);
    expect(again.alreadyTerminated).toBe(false);
    // A new request id for the same session sees it ended.
    expect((await client.terminate({ sessionId: s.sessionId }, admin())).alreadyTerminated).toBe(true);

    const other = await client.createSession({ userId: "idem" }, admin());
    const err = await failure(client.terminate({ sessionId: other.sessionId, requestId }, admin()));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field).toBe("request_id");

    const store = SqliteStores.open(svc.dataDir);
    const event = await store.audit.findEventByRequestId(requestScope.principal("admin"), requestId);
    await store.close();
    // The caller named no user: the event has the session's.
    expect(event).toMatchObject({ principal: "admin", provider: "local", sessionId: s.sessionId, userId: "idem", reason: "first", code: "OK", alreadyTerminated: false });
  });

  it("never replays a recorded refusal: the same request id with the right token ends the session", async () => {
    const s = await client.createSession({ userId: "idem2" }, admin());
    const requestId = randomUUID();
    const denied = await failure(client.terminate({ sessionId: s.sessionId, sessionToken: "wrong", requestId }, { headers: bearer(svc.keys.nobody) }));
    expect(denied.code).toBe(Code.PermissionDenied);
    const ended = await client.terminate({ sessionId: s.sessionId, sessionToken: s.sessionToken, requestId }, { headers: bearer(svc.keys.nobody) });
    expect(ended.alreadyTerminated).toBe(false);
    expect((await client.getSession({ sessionId: s.sessionId }, admin())).session?.termination?.terminatedBy).toBe("nobody");
  });

  it("serves Prometheus metrics on the same port", async () => {
    const res = await fetch(`${svc.baseUrl}/metrics`, { headers: bearer(METRICS_TOKEN) });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/session_control_calls_total\{procedure="\/sessioncontrol\.v1\.SessionControl\/Terminate",code="OK"\} \d+/);
    expect(text).toMatch(/session_control_terminations_total\{provider="local",code="OK"\} \d+/);
    expect(text).toMatch(/session_control_terminations_total\{provider="local",code="PERMISSION_DENIED"\} \d+/);
    expect(text).toContain("session_control_process_resident_memory_bytes");
    for (const key of Object.values(svc.keys)) expect(text).not.toContain(key);
  });
});
