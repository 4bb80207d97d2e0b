import http2 from "node:http2";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

/** A raw TCP connection that records when the server closed it. */
function rawSocket(port: number): Promise<{ socket: net.Socket; closed: () => boolean; received: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let closed = false;
    let data = "";
    socket.on("data", (c: Buffer) => (data += c.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => (closed = true));
    socket.once("connect", () => resolve({ socket, closed: () => closed, received: () => data }));
    socket.once("error", reject);
  });
}

async function healthServing(baseUrl: string): Promise<boolean> {
  const health = createClient(Health, createGrpcTransport({ baseUrl }));
  const res = await health.check({ service: "" }, { timeoutMs: 2_000 });
  return res.status === HealthCheckResponse_ServingStatus.SERVING;
}

describe("max_connections", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ max_connections: 3 });
  });
  afterAll(() => svc.stop());

  it("closes connections past the bound at once; a fresh connection is served once others close", async () => {
    const held = [await rawSocket(svc.port), await rawSocket(svc.port), await rawSocket(svc.port)];
    const extra = await rawSocket(svc.port);
    await until("the extra connection to be closed", extra.closed, { timeoutMs: 2_000 });
    expect(held.map((h) => h.closed())).toEqual([false, false, false]);
    for (const h of held) h.socket.destroy();
    // The server counts a connection until it has seen it close: retry until it has.
    await until("a fresh connection to be served", () => healthServing(svc.baseUrl).catch(() => false));
  });
});

describe("timeouts", () => {
  let svc: TestService;
  const HEADER_MS = 600;
  const BODY_MS = 800;
  const IDLE_MS = 1_000;
  beforeAll(async () => {
    svc = await startTestService({ header_timeout_ms: HEADER_MS, body_timeout_ms: BODY_MS, idle_timeout_ms: IDLE_MS, max_concurrent_streams: 7 });
  });
  afterAll(() => svc.stop());

  it("HTTP/2 advertises max_concurrent_streams and a bounded header list in SETTINGS", async () => {
    const session = http2.connect(svc.baseUrl);
    try {
      const settings = await new Promise<http2.Settings>((resolve) => session.once("remoteSettings", resolve));
      expect(settings.maxConcurrentStreams).toBe(7);
      expect(settings.maxHeaderListSize).toBeLessThanOrEqual(64 * 1024);
    } finally {
      session.destroy();
    }
  });

  it("HTTP/1.1: headers that never finish are cut after header_timeout_ms", async () => {
    const started = Date.now();
    const c = await rawSocket(svc.port);
    c.socket.write("POST /sessioncontrol.v1.SessionControl/Terminate HTTP/1.1\r\nHost: x\r\n");
    await until("the server to close the connection", c.closed, { timeoutMs: 5_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(HEADER_MS - 50);
  });

  it("HTTP/1.1: a body that never finishes is cut after body_timeout_ms", async () => {
    const c = await rawSocket(svc.port);
    const started = Date.now();
    c.socket.write(
      `POST /sessioncontrol.v1.SessionControl/Terminate HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\nAuthorization: Bearer ${svc.keys.admin}\r\nContent-Length: 100\r\n\r\n0123456789`,
    );
    await until("the server to close the connection", c.closed, { timeoutMs: 5_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(BODY_MS - 50);
  });

  it("HTTP/2: a connection that sends its preface and SETTINGS but no request is closed after header_timeout_ms", async () => {
    const started = Date.now();
    const c = await rawSocket(svc.port);
    c.socket.write(Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    await until("the server to close the connection", c.closed, { timeoutMs: 5_000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(HEADER_MS - 50);
  });

  it("HTTP/2: a stream whose body never finishes is reset after body_timeout_ms; the connection serves on", async () => {
    const session = http2.connect(svc.baseUrl);
    try {
      const started = Date.now();
      const stream = session.request({
        ":method": "POST",
        ":path": "/sessioncontrol.v1.SessionControl/Terminate",
        "content-type": "application/grpc",
        te: "trailers",
        ...bearer(svc.keys.admin),
      });
      stream.on("error", () => {});
      stream.resume();
      stream.write(Buffer.from([0, 0, 0, 1, 0, 1, 2, 3]));
      const rstCode = await new Promise<number>((resolve) => stream.once("close", () => resolve(stream.rstCode ?? -1)));
      expect(Date.now() - started).toBeGreaterThanOrEqual(BODY_MS - 50);
      expect(rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
      // Another call on the same connection is answered.
      const check = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers" });
      const status = await new Promise<string>((resolve) => {
        check.on("trailers", (t) => resolve(String(t["grpc-status"])));
        check.on("response", (h) => h["grpc-status"] !== undefined && resolve(String(h["grpc-status"])));
        check.resume();
        check.end(Buffer.from([0, 0, 0, 0, 0]));
      });
      expect(status).toBe("0");
    } finally {
      session.destroy();
    }
  });

  it("HTTP/2: a connection with nothing in flight is closed with GOAWAY after idle_timeout_ms", async () => {
    const session = http2.connect(svc.baseUrl);
    session.on("error", () => {});
    let goaway: number | undefined;
    session.on("goaway", (code) => (goaway = code));
    const check = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", te: "trailers" });
    check.resume();
    check.end(Buffer.from([0, 0, 0, 0, 0]));
    await new Promise((r) => check.once("close", r));
    const idleSince = Date.now();
    await until("the server to close the idle connection", () => session.closed || session.destroyed, { timeoutMs: 5_000 });
    expect(Date.now() - idleSince).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it("HTTP/1.1: a connection with nothing in flight is closed after idle_timeout_ms", async () => {
    const c = await rawSocket(svc.port);
    c.socket.write("GET /no-such-path HTTP/1.1\r\nHost: x\r\n\r\n");
    await until("the answer", () => c.received().includes("\r\n\r\n"));
    const idleSince = Date.now();
    await until("the server to close the idle connection", c.closed, { timeoutMs: 5_000 });
    // Node.js closes a kept-alive connection 1 s after keepAliveTimeout (its buffer against a client reusing it as it closes); 1 s more for a loaded machine.
    expect(Date.now() - idleSince).toBeLessThanOrEqual(IDLE_MS + 2_000);
  });
});

describe("max_buffered_bytes", () => {
  let svc: TestService;
  const BUDGET = 64 * 1024;
  beforeAll(async () => {
    svc = await startTestService({ max_buffered_bytes: BUDGET });
  });
  afterAll(() => svc.stop());

  /** A Connect binary GetSession with a body of `size` bytes that is no session id (INVALID_ARGUMENT when read). */
  async function smallCall(session: http2.ClientHttp2Session, size: number): Promise<number> {
    const req = session.request({ ":method": "POST", ":path": "/sessioncontrol.v1.SessionControl/GetSession", "content-type": "application/proto", ...bearer(svc.keys.admin) });
    const status = new Promise<number>((resolve, reject) => {
      req.once("response", (h) => resolve(Number(h[":status"])));
      req.once("error", reject);
    });
    req.resume();
    // Field 1 (session_id), a string of size-3 bytes.
    const body = Buffer.concat([Buffer.from([0x0a, 0x80 | ((size - 3) & 0x7f), (size - 3) >> 7]), Buffer.alloc(size - 3, 0x61)]);
    req.end(body);
    return status;
  }

  it("gives back the budget of bodies answered before they were read (415), however many", async () => {
    const sender = http2.connect(svc.baseUrl);
    const caller = http2.connect(svc.baseUrl);
    try {
      for (let i = 0; i < 8; i++) {
        const req = sender.request({ ":method": "POST", ":path": "/sessioncontrol.v1.SessionControl/Terminate", "content-type": "text/plain", ...bearer(svc.keys.admin) });
        const status = new Promise<number>((resolve) => req.once("response", (h) => resolve(Number(h[":status"]))));
        req.on("error", () => {});
        req.resume();
        req.end(Buffer.alloc(60 * 1024, 0x61));
        expect(await status).toBe(415);
      }
      await until("the budget to be given back", async () => (await smallCall(caller, 8 * 1024)) === 400);
    } finally {
      sender.destroy();
      caller.destroy();
    }
  });

  it("takes at most 16 KiB per message for the services anyone may call, from a budget of their own", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: svc.baseUrl }));
    await expect(health.check({ service: "x".repeat(20 * 1024) }, { timeoutMs: 5_000 })).rejects.toMatchObject({ code: Code.ResourceExhausted });
    expect((await health.check({ service: "" }, { timeoutMs: 5_000 })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("refuses new calls with RESOURCE_EXHAUSTED while unfinished bodies hold the budget, and serves them once released", async () => {
    const holder = http2.connect(svc.baseUrl);
    const caller = http2.connect(svc.baseUrl);
    try {
      // An unfinished body of 60 KiB holds most of the 64 KiB budget.
      const hold = holder.request({ ":method": "POST", ":path": "/sessioncontrol.v1.SessionControl/Terminate", "content-type": "application/proto", ...bearer(svc.keys.admin) });
      hold.on("error", () => {});
      hold.write(Buffer.alloc(60 * 1024, 0x0a));
      let refused = 0;
      await until("a new call to be refused", async () => (refused = await smallCall(caller, 8 * 1024)) === 429);
      expect(refused).toBe(429);
      hold.close(http2.constants.NGHTTP2_CANCEL);
      // Released when the holding call ends: the same call is read again (400: not a valid session id).
      await until("the budget to be released", async () => (await smallCall(caller, 8 * 1024)) === 400);
    } finally {
      holder.destroy();
      caller.destroy();
    }
  });
});
