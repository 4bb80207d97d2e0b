import { randomBytes } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary, type DescMethodUnary } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { SessionControl, TerminateRequestSchema, TerminateResponseSchema } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { GrpcJsClient } from "../helpers/grpc-js.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";

const MAX_TIMEOUT_MS = 2_000;

let svc: TestService;
let grpcJs: GrpcJsClient;
let transports: Record<"grpc" | "connectJson" | "connectBinary" | "grpcWeb", Transport>;
let grpc: Client<typeof SessionControl>;
let admin: Record<string, string>;

beforeAll(async () => {
  svc = await startTestService({ max_timeout_ms: MAX_TIMEOUT_MS });
  grpcJs = new GrpcJsClient(`127.0.0.1:${svc.port}`);
  transports = {
    grpc: createGrpcTransport({ baseUrl: svc.baseUrl }),
    connectJson: createConnectTransport({ baseUrl: svc.baseUrl, httpVersion: "1.1" }),
    connectBinary: createConnectTransport({ baseUrl: svc.baseUrl, httpVersion: "2", useBinaryFormat: true }),
    grpcWeb: createGrpcWebTransport({ baseUrl: svc.baseUrl }),
  };
  grpc = createClient(SessionControl, transports.grpc);
  admin = bearer(svc.keys.admin);
});
afterAll(async () => {
  grpcJs.close();
  await svc.stop();
});

/** Fails when an error message shows the service's insides. */
function expectNoStackTrace(message: string | null | undefined): void {
  expect(message ?? "").not.toContain("    at ");
  expect(message ?? "").not.toMatch(/\.ts:/);
  expect(message ?? "").not.toMatch(/\.js:\d/);
}

/** The ConnectError a call fails with; fails the test when it succeeds. */
async function failure(p: Promise<unknown>): Promise<ConnectError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "call should have failed").toBeInstanceOf(ConnectError);
  const ce = err as ConnectError;
  expectNoStackTrace(ce.rawMessage);
  return ce;
}

/** The gRPC status of a failed grpc-js call; fails the test when it succeeds. */
async function grpcJsFailure(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "call should have failed").toBeDefined();
  const { code, details } = err as { code?: unknown; details?: unknown };
  expect(typeof code).toBe("number");
  expectNoStackTrace(String(details));
  return { code: code as number, details: String(details) };
}

function fieldsOf(err: ConnectError): string[] {
  return err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field));
}

describe("session_id length", () => {
  it("empty is INVALID_ARGUMENT naming session_id", async () => {
    const err = await failure(grpc.terminate({ sessionId: "" }, { headers: admin }));
    expect(Code[err.code]).toBe("InvalidArgument");
    expect(fieldsOf(err)).toEqual(["session_id"]);
    expect(err.findDetails(ErrorInfoSchema).map((i) => i.reason)).toEqual(["INVALID_ARGUMENT"]);
  });

  it("201 characters is INVALID_ARGUMENT naming session_id", async () => {
    const err = await failure(grpc.terminate({ sessionId: "a".repeat(201) }, { headers: admin }));
    expect(Code[err.code]).toBe("InvalidArgument");
    expect(fieldsOf(err)).toEqual(["session_id"]);
  });

  it("200 characters is accepted (NOT_FOUND for admin)", async () => {
    const err = await failure(grpc.terminate({ sessionId: "a".repeat(200) }, { headers: admin }));
    expect(Code[err.code]).toBe("NotFound");
    expect(fieldsOf(err)).toEqual([]);
  });

  it("200 two-byte characters count as 200 characters (NOT_FOUND for admin)", async () => {
    const id = "é".repeat(200);
    expect(Buffer.byteLength(id)).toBe(400);
    const err = await failure(grpc.terminate({ sessionId: id }, { headers: admin }));
    expect(Code[err.code]).toBe("NotFound");
  });

  it("200 astral characters (UTF-16 length 400) count as 200 characters", async () => {
    const id = "😀".repeat(200);
    expect(id.length).toBe(400);
    const err = await failure(grpc.terminate({ sessionId: id }, { headers: admin }));
    expect(Code[err.code]).toBe("NotFound");
  });

  it("201 two-byte characters are INVALID_ARGUMENT", async () => {
    const err = await failure(grpc.terminate({ sessionId: "é".repeat(201) }, { headers: admin }));
    expect(Code[err.code]).toBe("InvalidArgument");
    expect(fieldsOf(err)).toEqual(["session_id"]);
  });
});

describe("other fields", () => {
  it("an invalid request_id is INVALID_ARGUMENT naming request_id", async () => {
    const err = await failure(grpc.terminate({ sessionId: "s-1", requestId: "not-a-uuid" }, { headers: admin }));
    expect(Code[err.code]).toBe("InvalidArgument");
    expect(fieldsOf(err)).toEqual(["request_id"]);
  });

  it("a UUID request_id is accepted (NOT_FOUND for admin)", async () => {
    const err = await failure(grpc.terminate({ sessionId: "s-1", requestId: "0b4e1a8c-52a1-4d7e-9f3b-2c6a9e8d7f10" }, { headers: admin }));
    expect(Code[err.code]).toBe("NotFound");
  });

  it("an unknown provider is INVALID_ARGUMENT whose message lists the configured provider", async () => {
    const err = await failure(grpc.terminate({ sessionId: "s-1", provider: "nope" }, { headers: admin }));
    expect(Code[err.code]).toBe("InvalidArgument");
    expect(fieldsOf(err)).toEqual(["provider"]);
    expect(err.rawMessage).toContain("nope");
    expect(err.rawMessage).toContain("local");
  });
});

describe("request size over read_max_bytes (4 MiB)", () => {
  const huge = () => ({ userId: "u", metadata: { big: new Uint8Array(5 * 1024 * 1024) } });

  // A transport of its own per call, and over HTTP/1.1 a connection that is not pooled: connect-node's
  // HTTP/1.1 client stops writing a body the server refused early, yet puts the connection back in
  // Node's global keep-alive pool, where the server reads the next request as the rest of that body.
  const fresh = {
    grpc: () => createGrpcTransport({ baseUrl: svc.baseUrl }),
    connectJson: () => createConnectTransport({ baseUrl: svc.baseUrl, httpVersion: "1.1", nodeOptions: { agent: new http.Agent({ keepAlive: false }) } }),
    connectBinary: () => createConnectTransport({ baseUrl: svc.baseUrl, httpVersion: "2", useBinaryFormat: true }),
    grpcWeb: () => createGrpcWebTransport({ baseUrl: svc.baseUrl }),
  };

  it.each(["grpc", "connectJson", "connectBinary", "grpcWeb"] as const)("is RESOURCE_EXHAUSTED over %s", async (name) => {
    const client = createClient(SessionControl, fresh[name]());
    const err = await failure(client.createSession(huge(), { headers: admin }));
    expect(Code[err.code]).toBe("ResourceExhausted");
  });

  it("is RESOURCE_EXHAUSTED over grpc-js", async () => {
    const { code } = await grpcJsFailure(grpcJs.call(SessionControl.method.createSession, huge(), admin));
    expect(Code[code]).toBe("ResourceExhausted");
  });

  it("just under the limit reaches the handler (INVALID_ARGUMENT for the 4 KiB value cap)", async () => {
    const err = await failure(grpc.createSession({ userId: "u", metadata: { big: new Uint8Array(4 * 1024 * 1024 - 1024) } }, { headers: admin }));
    expect(Code[err.code]).toBe("InvalidArgument");
    expect(fieldsOf(err)).toEqual(['metadata["big"]']);
  });
});

describe("undecodable requests", () => {
  // connect-es itself would answer INTERNAL ("parse binary"); the service makes it the caller's mistake.
  it("bytes that are not protobuf are INVALID_ARGUMENT (grpc-js)", async () => {
    const { code, details } = await grpcJsFailure(grpcJs.callRaw("/sessioncontrol.v1.SessionControl/Terminate", Buffer.from([0xff, 0xff, 0xff, 0xff]), admin));
    expect(Code[code]).toBe("InvalidArgument");
    expect(decodeURIComponent(details)).toMatch(/not valid protobuf/);
  });

  it("bytes that are not protobuf are INVALID_ARGUMENT over Connect binary and gRPC-web", async () => {
    const junk = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const connect = await fetch(`${svc.baseUrl}/sessioncontrol.v1.SessionControl/Terminate`, {
      method: "POST",
      headers: { "content-type": "application/proto", ...admin },
      body: junk,
    });
    expect(connect.status).toBe(400);
    expect(((await connect.json()) as { code: string }).code).toBe("invalid_argument");
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, junk.length]), junk]);
    const web = await fetch(`${svc.baseUrl}/sessioncontrol.v1.SessionControl/Terminate`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", ...admin },
      body: frame,
    });
    const trailer = Buffer.from(await web.arrayBuffer()).toString("latin1");
    expect(web.headers.get("grpc-status") ?? /grpc-status: ?(\d+)/.exec(trailer)?.[1]).toBe("3");
  });

  it("bytes that are not protobuf are refused before permissions are looked at", async () => {
    // A key with no permissions: had the bytes reached the handlers, this would be PERMISSION_DENIED.
    const { code } = await grpcJsFailure(grpcJs.callRaw("/sessioncontrol.v1.SessionControl/Terminate", Buffer.from([0xff, 0xff, 0xff, 0xff]), bearer(svc.keys.nobody)));
    expect(Code[code]).toBe("InvalidArgument");
  });

  it("without a key, the body is never looked at: UNAUTHENTICATED from the headers", async () => {
    const { code } = await grpcJsFailure(grpcJs.callRaw("/sessioncontrol.v1.SessionControl/Terminate", Buffer.from([0xff, 0xff, 0xff, 0xff])));
    expect(Code[code]).toBe("Unauthenticated");
  });

  it.each([
    ["invalid JSON over Connect is invalid_argument", '{"sessionId": "abc",'],
    ["JSON of the wrong shape over Connect is invalid_argument", '{"sessionId": 42, "noSuchField": true}'],
  ])("%s", async (_name, json) => {
    const res = await fetch(`${svc.baseUrl}/sessioncontrol.v1.SessionControl/Terminate`, {
      method: "POST",
      headers: { "content-type": "application/json", ...admin },
      body: json,
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code?: string; message?: string };
    expect(body.code).toBe("invalid_argument");
    expectNoStackTrace(body.message);
  });
});

describe("unknown methods are UNIMPLEMENTED", () => {
  const paths = [
    ["sessioncontrol.v1.SessionControl", "Nope"],
    ["no.Such", "Method"],
  ] as const;

  /** Terminate's descriptor, pointed at another path. */
  function fakeMethod(service: string, name: string): DescMethodUnary<typeof TerminateRequestSchema, typeof TerminateResponseSchema> {
    const real = SessionControl.method.terminate;
    return { ...real, name, parent: { ...SessionControl, typeName: service } } as typeof real;
  }

  it.each(paths)("/%s/%s over grpc-js", async (service, method) => {
    const { code } = await grpcJsFailure(grpcJs.callRaw(`/${service}/${method}`, Buffer.alloc(0), admin));
    expect(Code[code]).toBe("Unimplemented");
  });

  it.each(paths)("/%s/%s over the connect-node gRPC transport", async (service, method) => {
    const res = transports.grpc.unary(fakeMethod(service, method), undefined, 5_000, admin, { sessionId: "x" }, undefined);
    const err = await failure(res);
    expect(Code[err.code]).toBe("Unimplemented");
  });

  it.each(paths)("/%s/%s over gRPC-web (fetch)", async (service, method) => {
    const res = await fetch(`${svc.baseUrl}/${service}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...admin },
      body: new Uint8Array([0, 0, 0, 0, 0]),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("grpc-status")).toBe(String(Code.Unimplemented));
    expectNoStackTrace(res.headers.get("grpc-message"));
    await res.arrayBuffer();
  });

  it.each(paths)("/%s/%s over the connect-web gRPC-web transport", async (service, method) => {
    const err = await failure(transports.grpcWeb.unary(fakeMethod(service, method), undefined, 5_000, admin, { sessionId: "x" }, undefined));
    expect(Code[err.code]).toBe("Unimplemented");
  });

  it.each(paths)("/%s/%s over Connect (HTTP 404, code unimplemented)", async (service, method) => {
    const res = await fetch(`${svc.baseUrl}/${service}/${method}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...admin },
      body: "{}",
    });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { code?: string; message?: string };
    expect(body.code).toBe("unimplemented");
    expectNoStackTrace(body.message);
  });

  it.each(paths)("/%s/%s over the connect-node Connect transport", async (service, method) => {
    const err = await failure(transports.connectJson.unary(fakeMethod(service, method), undefined, 5_000, admin, { sessionId: "x" }, undefined));
    expect(Code[err.code]).toBe("Unimplemented");
  });
});

/**
 * Writes `bytes` on a fresh TCP connection; resolves with what came back once the server closed it,
 * or once `answered` says what came back is a complete answer, or after 5 s.
 */
function junkConnection(bytes: Buffer, answered: (received: Buffer) => boolean = () => false): Promise<{ received: Buffer; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(svc.port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let serverEnded = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closedByServer: false });
    }, 5_000);
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (c: Buffer) => {
      chunks.push(c);
      if (answered(Buffer.concat(chunks))) socket.destroy();
    });
    socket.on("end", () => (serverEnded = true));
    // The server may reset the connection rather than end it: that closes it too.
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "ECONNRESET" && err.code !== "EPIPE") {
        clearTimeout(timer);
        reject(err);
      } else serverEnded = true;
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closedByServer: serverEnded });
    });
  });
}

/** HTTP/2 frames in `data`, as [type, error code of GOAWAY] pairs. */
function h2Frames(data: Buffer): { type: number; errorCode?: number }[] {
  const frames: { type: number; errorCode?: number }[] = [];
  let at = 0;
  while (at + 9 <= data.length) {
    const length = data.readUIntBE(at, 3);
    const type = data[at + 3]!;
    const payload = data.subarray(at + 9, at + 9 + length);
    frames.push(type === 0x7 && payload.length >= 8 ? { type, errorCode: payload.readUInt32BE(4) } : { type });
    at += 9 + length;
  }
  return frames;
}

async function expectServiceStillServes(): Promise<void> {
  for (const transport of [createGrpcTransport({ baseUrl: svc.baseUrl }), createConnectTransport({ baseUrl: svc.baseUrl, httpVersion: "1.1" })]) {
    const client = createClient(SessionControl, transport);
    const created = await client.createSession({ userId: "after-junk" }, { headers: admin });
    expect(created.sessionId).toMatch(/^[0-9a-f]{32}$/);
  }
  const viaGrpcJs = await grpcJs.call(SessionControl.method.getSession, { sessionId: "no-such" }, admin).then(
    () => "ok",
    (e: { code: number }) => e.code,
  );
  expect(viaGrpcJs).toBe(Code.NotFound);
}

describe("junk on the socket", () => {
  it("random bytes: the server answers 400 or closes the connection, and keeps serving", async () => {
    // Starts with a byte no HTTP method or the HTTP/2 preface starts with, so it is junk for sure.
    const junk = Buffer.concat([Buffer.from([0x00, 0xff]), randomBytes(4096)]);
    const { received, closedByServer } = await junkConnection(junk);
    expect(closedByServer).toBe(true);
    if (received.length > 0) expect(received.toString("latin1")).toMatch(/^HTTP\/1\.1 400 /);
    await expectServiceStillServes();
  });

  it("HTTP/2 preface then garbage: the server sends GOAWAY or closes the connection, and keeps serving", async () => {
    const preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    // A frame header announcing a 16 MiB SETTINGS frame on stream 7, then noise: a protocol error.
    const garbage = Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x04, 0x00, 0x00, 0x00, 0x00, 0x07]), randomBytes(1024)]);
    const { received, closedByServer } = await junkConnection(Buffer.concat([preface, garbage]), (r) => h2Frames(r).some((f) => f.type === 0x7));
    const frames = h2Frames(received);
    const goaways = frames.filter((f) => f.type === 0x7);
    // The server answered in HTTP/2 (its SETTINGS first) and refused the connection: a GOAWAY with an
    // error code, or closing it.
    expect(closedByServer || goaways.length > 0).toBe(true);
    if (frames.length > 0) expect(frames[0]!.type).toBe(0x4);
    for (const f of goaways) expect(f.errorCode).toBeGreaterThan(0);
    await expectServiceStillServes();
  });

  it("a half-sent HTTP/1.1 request line followed by binary junk is refused, and the service keeps serving", async () => {
    const junk = Buffer.concat([Buffer.from("POST /sessioncontrol.v1.SessionControl/Terminate HTTP/1.1\r\nHost: x\r\n"), Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x0d, 0x0a, 0x0d, 0x0a])]);
    const { received, closedByServer } = await junkConnection(junk);
    expect(closedByServer).toBe(true);
    if (received.length > 0) expect(received.toString("latin1")).toMatch(/^HTTP\/1\.1 400 /);
    await expectServiceStillServes();
  });
});

/** One gRPC unary call over a raw HTTP/2 stream, with exactly the headers given. */
function rawGrpc(path: string, headers: Record<string, string>, message: Uint8Array): Promise<{ status: string | undefined; message: string | undefined }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(svc.baseUrl);
    session.on("error", reject);
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    const req = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
    let status: string | undefined;
    let msg: string | undefined;
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) msg = decodeURIComponent(String(h["grpc-message"]));
    };
    req.on("response", take);
    req.on("trailers", take);
    req.on("data", () => {});
    req.on("end", () => {
      session.close();
      resolve({ status, message: msg });
    });
    req.on("error", reject);
    req.end(frame);
  });
}

describe("deadlines above max_timeout_ms are capped, not refused", () => {
  const call = (timeoutMs: number) => ({ headers: admin, timeoutMs });

  it.each(["grpc", "connectJson", "connectBinary", "grpcWeb"] as const)("over %s", async (name) => {
    const client = createClient(SessionControl, transports[name]);
    const created = await client.createSession({ userId: "deadline" }, call(MAX_TIMEOUT_MS * 1000));
    const ended = await client.terminate({ sessionId: created.sessionId }, call(24 * 3600 * 1000));
    expect(ended.alreadyTerminated).toBe(false);
  });

  it("over grpc-js with a deadline a day away", async () => {
    const deadline = new Date(Date.now() + 24 * 3600 * 1000);
    const res = await new Promise<unknown>((resolve, reject) => {
      const metadata = new Metadata();
      metadata.set("authorization", admin["authorization"]!);
      grpcJs.client.makeUnaryRequest(
        "/sessioncontrol.v1.SessionControl/CreateSession",
        (m: Uint8Array) => Buffer.from(m),
        (b: Buffer) => fromBinary(SessionControl.method.createSession.output, b),
        toBinary(SessionControl.method.createSession.input, create(SessionControl.method.createSession.input, { userId: "deadline" })),
        metadata,
        { deadline },
        (err, value) => (err ? reject(err) : resolve(value)),
      );
    });
    expect((res as { sessionId: string }).sessionId).toMatch(/^[0-9a-f]{32}$/);
  });

  it("a grpc-timeout of 99999999 hours (beyond any timer) works", async () => {
    const { status, message } = await rawGrpc("/sessioncontrol.v1.SessionControl/GetSession", { ...admin, "grpc-timeout": "99999999H" }, new Uint8Array([0x0a, 0x01, 0x78]));
    // GetSession{session_id: "x"}: not found, and not DEADLINE_EXCEEDED or INVALID_ARGUMENT.
    expect(status).toBe(String(Code.NotFound));
    expectNoStackTrace(message);
  });

  it.each(["grpc", "connectBinary", "grpcWeb"] as const)("the cap applies: a Health.Watch asking for an hour over %s ends at max_timeout_ms", async (name) => {
    const health = createClient(Health, transports[name]);
    const started = Date.now();
    const statuses: number[] = [];
    const err = await failure(
      (async () => {
        for await (const res of health.watch({ service: "" }, { timeoutMs: 3600_000 })) statuses.push(res.status);
      })(),
    );
    const elapsed = Date.now() - started;
    expect(Code[err.code]).toBe("DeadlineExceeded");
    expect(statuses).toEqual([HealthCheckResponse_ServingStatus.SERVING]);
    expect(elapsed).toBeGreaterThanOrEqual(MAX_TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(MAX_TIMEOUT_MS + 3_000);
  });

  it("the cap applies to a raw grpc-timeout of 99999999 hours on Health.Watch", async () => {
    const started = Date.now();
    const { status, message } = await rawGrpc("/grpc.health.v1.Health/Watch", { "grpc-timeout": "99999999H" }, new Uint8Array(0));
    const elapsed = Date.now() - started;
    expect(status).toBe(String(Code.DeadlineExceeded));
    expectNoStackTrace(message);
    expect(elapsed).toBeGreaterThanOrEqual(MAX_TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(MAX_TIMEOUT_MS + 3_000);
  });

  it("a connect-timeout-ms of 9999999999 works", async () => {
    const res = await fetch(`${svc.baseUrl}/sessioncontrol.v1.SessionControl/GetSession`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-timeout-ms": "9999999999", ...admin },
      body: '{"sessionId": "x"}',
    });
    const body = (await res.json()) as { code?: string };
    expect(body.code).toBe("not_found");
    expect(res.status).toBe(404);
  });
});
