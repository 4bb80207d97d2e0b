import http2 from "node:http2";
import net from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

const TERMINATE = "/sessioncontrol.v1.SessionControl/Terminate";
const UNAUTHENTICATED_MESSAGE = "missing or unknown API key: send Authorization: Bearer <api key>";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

/** One request on a raw HTTP/2 stream: headers, body chunks (the stream ends only when `end`), then what came back. */
function h2Call(
  path: string,
  headers: Record<string, string>,
  body: Buffer,
  end = true,
): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(svc.baseUrl);
    session.on("error", reject);
    const req = session.request({ ":method": "POST", ":path": path, ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on("response", (h) => (head = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("error", () => {});
    req.on("end", () => {
      session.destroy();
      resolve({ headers: head, trailers, body: Buffer.concat(chunks) });
    });
    if (end) req.end(body);
    else req.write(body);
  });
}

function grpcFrame(message: Buffer, compressed = false): Buffer {
  const head = Buffer.from([compressed ? 1 : 0, 0, 0, 0, 0]);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** The grpc-status of a gRPC-web answer: from its headers (trailers-only), else from its trailer frame. */
async function grpcWebStatus(res: Response): Promise<string | undefined> {
  const trailer = Buffer.from(await res.arrayBuffer()).toString("latin1");
  return res.headers.get("grpc-status") ?? /grpc-status: ?(\d+)/.exec(trailer)?.[1];
}

/** Writes raw HTTP/1.1 bytes; resolves with all the server sent once it closed the connection (and whether it reset it). */
function h1Raw(bytes: string | Buffer): Promise<{ text: string; reset: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(svc.port, "127.0.0.1");
    let text = "";
    let reset = false;
    socket.on("connect", () => socket.write(bytes));
    socket.on("data", (c: Buffer) => (text += c.toString("latin1")));
    socket.on("error", () => (reset = true));
    socket.on("close", () => resolve({ text, reset }));
  });
}

describe("an unauthenticated call is refused from its headers", () => {
  it("gRPC: a body that never finishes still gets UNAUTHENTICATED (trailers-only, ErrorInfo API_KEY_INVALID)", async () => {
    // The frame declares 64 KiB and sends 10 bytes; the stream never ends.
    const partial = Buffer.concat([Buffer.from([0, 0, 1, 0, 0]), Buffer.alloc(10)]);
    const res = await h2Call(TERMINATE, { "content-type": "application/grpc", te: "trailers" }, partial, false);
    expect(res.headers["grpc-status"]).toBe(String(Code.Unauthenticated));
    expect(decodeURIComponent(String(res.headers["grpc-message"]))).toBe(UNAUTHENTICATED_MESSAGE);
    const headers = new Headers(Object.entries(res.headers).flatMap(([k, v]) => (k.startsWith(":") || v === undefined ? [] : [[k, String(v)] as [string, string]])));
    expect(findTrailerError(headers)?.findDetails(ErrorInfoSchema).map((i) => i.reason)).toEqual(["API_KEY_INVALID"]);
  });

  it.each([
    ["gRPC", () => createGrpcTransport({ baseUrl: svc.baseUrl })],
    ["gRPC-web", () => createGrpcWebTransport({ baseUrl: svc.baseUrl })],
    ["Connect JSON", () => createConnectTransport({ baseUrl: svc.baseUrl, httpVersion: "1.1" })],
    ["Connect binary", () => createConnectTransport({ baseUrl: svc.baseUrl, httpVersion: "2", useBinaryFormat: true })],
  ])("%s clients see UNAUTHENTICATED with ErrorInfo API_KEY_INVALID and the interceptor's message", async (_name, transport) => {
    const client = createClient(SessionControl, transport());
    const err = await client.terminate({ sessionId: "s" }, { headers: bearer("sck_unknown"), timeoutMs: 5_000 }).then(
      () => undefined,
      (e: unknown) => e as ConnectError,
    );
    expect(err).toBeInstanceOf(ConnectError);
    expect(err!.code).toBe(Code.Unauthenticated);
    expect(err!.rawMessage).toBe(UNAUTHENTICATED_MESSAGE);
    expect(err!.findDetails(ErrorInfoSchema).map((i) => i.reason)).toEqual(["API_KEY_INVALID"]);
  });

  it("Connect unary: HTTP 401 with the Connect error JSON", async () => {
    const res = await fetch(`${svc.baseUrl}${TERMINATE}`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe("unauthenticated");
  });

  it.each([
    ["Connect", TERMINATE, "application/proto"],
    ["REST", "/v2/sessions/s-1", "application/json"],
  ])("HTTP/1.1 %s: answered before the body is read, with Connection: close, then a clean close (no reset)", async (_name, path, type) => {
    const method = path.startsWith("/v2/") ? "DELETE" : "POST";
    const { text, reset } = await h1Raw(`${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: 100000\r\n\r\n0123456789`);
    expect(text).toMatch(/^HTTP\/1\.1 401 /);
    expect(text.toLowerCase()).toContain("connection: close");
    expect(reset).toBe(false);
  });
});

describe("calls reset by the client", () => {
  it("are logged as CANCELED with their procedure and principal", async () => {
    const session = http2.connect(svc.baseUrl);
    try {
      const req = session.request({ ":method": "POST", ":path": TERMINATE, "content-type": "application/grpc", te: "trailers", ...bearer(svc.keys.admin) });
      req.on("error", () => {});
      req.write(Buffer.from([0, 0, 0, 1, 0]));
      await until("the stream to open", () => req.id !== undefined);
      req.close(http2.constants.NGHTTP2_CANCEL);
      await until("the call line", () => svc.logs.some((l) => l["msg"] === "call" && l["code"] === "CANCELED"));
      const line = svc.logs.find((l) => l["msg"] === "call" && l["code"] === "CANCELED")!;
      expect(line["procedure"]).toBe(TERMINATE);
      expect(line["principal"]).toBe("admin");
    } finally {
      session.destroy();
    }
  });
});

describe("compressed bodies that do not decode are INVALID_ARGUMENT on every protocol", () => {
  const junk = Buffer.from([0xff, 0xff, 0xff, 0xff]);
  const bodies = [
    ["not gzip at all", Buffer.from("definitely not gzip")],
    ["gzip of bytes that are not protobuf", gzipSync(junk)],
    ["truncated gzip", gzipSync(Buffer.from([0x0a, 0x01, 0x78])).subarray(0, 8)],
  ] as const;

  it.each(bodies)("gRPC: %s", async (_name, bytes) => {
    const res = await h2Call(TERMINATE, { "content-type": "application/grpc", "grpc-encoding": "gzip", te: "trailers", ...bearer(svc.keys.admin) }, grpcFrame(bytes, true));
    expect(res.trailers["grpc-status"] ?? res.headers["grpc-status"]).toBe(String(Code.InvalidArgument));
  });

  it.each(bodies)("gRPC-web: %s", async (_name, bytes) => {
    const res = await fetch(`${svc.baseUrl}${TERMINATE}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto", "grpc-encoding": "gzip", ...bearer(svc.keys.admin) },
      body: grpcFrame(bytes, true),
    });
    expect(await grpcWebStatus(res)).toBe(String(Code.InvalidArgument));
  });

  it.each([["no grpc-encoding", {}], ["grpc-encoding: identity", { "grpc-encoding": "identity" }]] as const)("gRPC and gRPC-web: an envelope flagged compressed under %s", async (_name, encoding) => {
    const body = grpcFrame(gzipSync(Buffer.from([0x0a, 0x01, 0x78])), true);
    const grpc = await h2Call(TERMINATE, { "content-type": "application/grpc", te: "trailers", ...encoding, ...bearer(svc.keys.admin) }, body);
    expect(grpc.trailers["grpc-status"] ?? grpc.headers["grpc-status"]).toBe(String(Code.InvalidArgument));
    const web = await fetch(`${svc.baseUrl}${TERMINATE}`, { method: "POST", headers: { "content-type": "application/grpc-web+proto", ...encoding, ...bearer(svc.keys.admin) }, body });
    expect(await grpcWebStatus(web)).toBe(String(Code.InvalidArgument));
  });

  it.each([
    ...bodies.map(([name, bytes]) => ["binary", name, "application/proto", bytes] as const),
    ["JSON", "not gzip at all", "application/json", Buffer.from("definitely not gzip")],
    ["JSON", "gzip of text that is not JSON", "application/json", gzipSync(Buffer.from("{not json"))],
  ] as const)("Connect %s: %s", async (_kind, _name, contentType, bytes) => {
    const res = await fetch(`${svc.baseUrl}${TERMINATE}`, {
      method: "POST",
      headers: { "content-type": contentType, "content-encoding": "gzip", ...bearer(svc.keys.admin) },
      body: bytes,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe("invalid_argument");
  });
});

describe("envelopes of a one-message method that are not one message are INVALID_ARGUMENT", () => {
  const junk = Buffer.from([0xff, 0xff]);
  it.each([
    ["two envelopes", Buffer.concat([grpcFrame(junk), grpcFrame(junk)])],
    ["a valid message, then more bytes", Buffer.concat([grpcFrame(Buffer.alloc(0)), Buffer.from([1, 2, 3])])],
    ["the trailer flag 0x80", Buffer.concat([Buffer.from([0x80, 0, 0, 0, 2]), junk])],
  ])("gRPC: %s", async (_name, body) => {
    const res = await h2Call(TERMINATE, { "content-type": "application/grpc", te: "trailers", ...bearer(svc.keys.admin) }, body);
    expect(res.trailers["grpc-status"] ?? res.headers["grpc-status"]).toBe(String(Code.InvalidArgument));
  });
});

describe("a body over read_max_bytes is RESOURCE_EXHAUSTED whatever its content", () => {
  const oversize = Buffer.alloc(4 * 1024 * 1024 + 1, 0xff);

  it("Connect binary, 4 MiB + 1 of bytes that are not protobuf", async () => {
    const res = await fetch(`${svc.baseUrl}${TERMINATE}`, { method: "POST", headers: { "content-type": "application/proto", ...bearer(svc.keys.admin) }, body: oversize });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { code: string }).code).toBe("resource_exhausted");
  });

  it("gRPC, a frame of 4 MiB + 1 bytes that are not protobuf", async () => {
    const res = await h2Call(TERMINATE, { "content-type": "application/grpc", te: "trailers", ...bearer(svc.keys.admin) }, grpcFrame(oversize));
    expect(res.trailers["grpc-status"] ?? res.headers["grpc-status"]).toBe(String(Code.ResourceExhausted));
  });
});

describe("unsupported content types", () => {
  it.each([
    ["no content type", undefined],
    ["text/plain", "text/plain"],
  ])("%s: 415 that lists the accepted content types", async (_name, type) => {
    const res = await fetch(`${svc.baseUrl}${TERMINATE}`, {
      method: "POST",
      headers: { ...(type ? { "content-type": type } : {}), ...bearer(svc.keys.admin) },
      body: type ? "x" : new Uint8Array([1]),
    });
    expect(res.status).toBe(415);
    const body = await res.text();
    for (const accepted of ["application/grpc", "application/grpc-web+proto", "application/proto", "application/json"]) {
      expect(body).toContain(accepted);
      expect(res.headers.get("accept-post")).toContain(accepted);
    }
  });
});
