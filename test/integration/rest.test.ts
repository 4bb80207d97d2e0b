import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { connectGrpcClient, type ClientUnderTest } from "../helpers/clients.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";

const { createSession, getSession } = SessionControl.method;

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo";

let svc: TestService;
let grpc: ClientUnderTest;

beforeAll(async () => {
  // Cross-origin access is off by default; the CORS tests below call from this origin.
  svc = await startTestService({ cors_allowed_origins: ["https://app.example"] });
  grpc = connectGrpcClient(svc.baseUrl);
});
afterAll(async () => {
  await svc.stop();
});

async function newSession(userId: string, resourceOwner = "org-rest") {
  return grpc.call(createSession, { userId, resourceOwner }, bearer(svc.keys.admin));
}

/** Seed 001's curl, in shape: DELETE with JSON content type, JSON accept, bearer key and {"sessionToken"}. */
async function restDelete(sessionPath: string, opts: { key?: string | undefined; body?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { "Content-Type": "application/json", Accept: "application/json", ...opts.headers };
  if (opts.key !== undefined) headers["Authorization"] = `Bearer ${opts.key}`;
  const res = await fetch(`${svc.baseUrl}/v2/sessions/${sessionPath}`, { method: "DELETE", headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get("content-type"), body: JSON.parse(text) as Record<string, unknown> };
}

function expectRpcError(body: Record<string, unknown>, code: number, reason?: string) {
  expect(body["code"]).toBe(code);
  expect(typeof body["message"]).toBe("string");
  expect((body["message"] as string).length).toBeGreaterThan(0);
  const details = body["details"] as Record<string, unknown>[];
  expect(Array.isArray(details)).toBe(true);
  const info = details.find((d) => d["@type"] === ERROR_INFO);
  expect(info).toBeDefined();
  expect(info!["domain"]).toEqual(expect.any(String));
  expect(info!["domain"]).not.toBe("");
  if (reason) expect(info!["reason"]).toBe(reason);
  else expect(info!["reason"]).toEqual(expect.stringMatching(/^[A-Z_]+$/));
}

describe("REST DELETE /v2/sessions/{session_id} (seed 001)", () => {
  it("ends a session with its token and answers Zitadel's JSON; again is 200 with the same details", async () => {
    const created = await newSession("rest-user");
    const res = await restDelete(created.sessionId, { key: svc.keys.admin, body: JSON.stringify({ sessionToken: created.sessionToken }) });
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/^application\/json/);
    expect(Object.keys(res.body)).toEqual(["details"]);
    const details = res.body["details"] as Record<string, unknown>;
    expect(Object.keys(details).sort()).toEqual(["changeDate", "creationDate", "resourceOwner", "sequence"]);
    // uint64 in proto3 JSON is a string of digits.
    expect(details["sequence"]).toEqual(expect.stringMatching(/^\d+$/));
    expect(BigInt(details["sequence"] as string)).toBeGreaterThan(created.details!.sequence);
    expect(details["changeDate"]).toMatch(ISO);
    expect(details["creationDate"]).toMatch(ISO);
    expect(details["resourceOwner"]).toBe("org-rest");
    expect(Date.parse(details["changeDate"] as string)).toBeGreaterThanOrEqual(Date.parse(details["creationDate"] as string));

    const got = await grpc.call(getSession, { sessionId: created.sessionId }, bearer(svc.keys.admin));
    expect(got.session?.termination).toBeDefined();
    expect(got.session?.sequence.toString()).toBe(details["sequence"]);

    const again = await restDelete(created.sessionId, { key: svc.keys.admin, body: JSON.stringify({ sessionToken: created.sessionToken }) });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);
  });

  it("a caller with no permission ends a session by presenting its token", async () => {
    const created = await newSession("rest-user-nobody");
    const res = await restDelete(created.sessionId, { key: svc.keys.nobody, body: JSON.stringify({ sessionToken: created.sessionToken }) });
    expect(res.status).toBe(200);
    const got = await grpc.call(getSession, { sessionId: created.sessionId }, bearer(svc.keys.admin));
    expect(got.session?.termination?.terminatedBy).toBe("nobody");
  });

  it("a wrong token is 403 with code 7 and an ErrorInfo, and the session stays open", async () => {
    const created = await newSession("rest-user-2");
    const res = await restDelete(created.sessionId, { key: svc.keys.admin, body: JSON.stringify({ sessionToken: "wrong" }) });
    expect(res.status).toBe(403);
    expect(res.contentType).toMatch(/^application\/json/);
    expectRpcError(res.body, 7, "PERMISSION_DENIED");
    const got = await grpc.call(getSession, { sessionId: created.sessionId }, bearer(svc.keys.admin));
    expect(got.session?.termination).toBeUndefined();
  });

  it("an unknown id is 404 code 5 for the admin key", async () => {
    const res = await restDelete("f".repeat(32), { key: svc.keys.admin, body: "{}" });
    expect(res.status).toBe(404);
    expectRpcError(res.body, 5, "SESSION_NOT_FOUND");
  });

  it("no key is 401 code 16; an unknown key too", async () => {
    const created = await newSession("rest-user-3");
    const none = await restDelete(created.sessionId, { body: JSON.stringify({ sessionToken: created.sessionToken }) });
    expect(none.status).toBe(401);
    expectRpcError(none.body, 16, "API_KEY_INVALID");
    const unknown = await restDelete(created.sessionId, { key: "sck_nope", body: JSON.stringify({ sessionToken: created.sessionToken }) });
    expect(unknown.status).toBe(401);
    expectRpcError(unknown.body, 16, "API_KEY_INVALID");
    const got = await grpc.call(getSession, { sessionId: created.sessionId }, bearer(svc.keys.admin));
    expect(got.session?.termination).toBeUndefined();
  });

  it("invalid JSON is 400 code 3", async () => {
    const created = await newSession("rest-user-4");
    const res = await restDelete(created.sessionId, { key: svc.keys.admin, body: `{"sessionToken": ` });
    expect(res.status).toBe(400);
    expectRpcError(res.body, 3);
    const notObject = await restDelete(created.sessionId, { key: svc.keys.admin, body: `["x"]` });
    expect(notObject.status).toBe(400);
    expectRpcError(notObject.body, 3);
    const got = await grpc.call(getSession, { sessionId: created.sessionId }, bearer(svc.keys.admin));
    expect(got.session?.termination).toBeUndefined();
  });

  it("a body over 4 MiB is 429 code 8", async () => {
    const created = await newSession("rest-user-5");
    const body = JSON.stringify({ sessionToken: "x".repeat(4 * 1024 * 1024) });
    expect(Buffer.byteLength(body)).toBeGreaterThan(4 * 1024 * 1024);
    const res = await restDelete(created.sessionId, { key: svc.keys.admin, body });
    expect(res.status).toBe(429);
    expectRpcError(res.body, 8, "MESSAGE_TOO_LARGE");
    const got = await grpc.call(getSession, { sessionId: created.sessionId }, bearer(svc.keys.admin));
    expect(got.session?.termination).toBeUndefined();
  });

  it("a path-encoded id is decoded and is simply not found", async () => {
    const res = await restDelete("%2F..%2F..%2Fetc%2Fpasswd", { key: svc.keys.admin, body: "{}" });
    expect(res.status).toBe(404);
    expectRpcError(res.body, 5, "SESSION_NOT_FOUND");
    // The decoded id is what the handler saw: an encoded real id ends that session.
    const created = await newSession("rest-user-6");
    const encoded = [...created.sessionId].map((c) => `%${c.charCodeAt(0).toString(16)}`).join("");
    const ok = await restDelete(encoded, { key: svc.keys.admin, body: JSON.stringify({ sessionToken: created.sessionToken }) });
    expect(ok.status).toBe(200);
    const got = await grpc.call(getSession, { sessionId: created.sessionId }, bearer(svc.keys.admin));
    expect(got.session?.termination).toBeDefined();
  });
});

describe("CORS", () => {
  it("answers a preflight for DELETE with 204, the origin and the allowed headers", async () => {
    const res = await fetch(`${svc.baseUrl}/v2/sessions/abc`, {
      method: "OPTIONS",
      headers: { Origin: "https://app.example", "Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "authorization, content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const allowHeaders = (res.headers.get("access-control-allow-headers") ?? "").toLowerCase().split(/,\s*/);
    expect(allowHeaders).toContain("authorization");
    expect(allowHeaders).toContain("content-type");
    const allowMethods = (res.headers.get("access-control-allow-methods") ?? "").toUpperCase().split(/,\s*/);
    expect(allowMethods).toContain("DELETE");
  });

  it("exposes grpc-status and grpc-message on a gRPC-web answer", async () => {
    // An empty gRPC-web frame: GetSession with no key, which fails with UNAUTHENTICATED.
    const res = await fetch(`${svc.baseUrl}/sessioncontrol.v1.SessionControl/GetSession`, {
      method: "POST",
      headers: { Origin: "https://app.example", "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1" },
      body: new Uint8Array([0, 0, 0, 0, 0]),
    });
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const exposed = (res.headers.get("access-control-expose-headers") ?? "").toLowerCase().split(/,\s*/);
    expect(exposed).toContain("grpc-status");
    expect(exposed).toContain("grpc-message");
    // The status itself travels in the headers (trailers-only) or in the trailer frame (flag 0x80) of the body.
    const trailerFrame = body.length >= 5 && body[0] === 0x80 ? body.subarray(5, 5 + body.readUInt32BE(1)).toString("utf8") : "";
    const status = res.headers.get("grpc-status") ?? /^grpc-status:\s*(\d+)\s*$/im.exec(trailerFrame)?.[1];
    expect(status).toBe("16");
  });
});
