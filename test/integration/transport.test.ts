import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport, createGrpcWebTransport as createNodeGrpcWebTransport } from "@connectrpc/connect-node";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { Health, HealthCheckRequestSchema, HealthCheckResponseSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { GrpcJsClient } from "../helpers/grpc-js.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

/**
 * What the transport (src/server/rpc-adapter.ts, in front of connect-node's adapter) carries
 * between the wire and connect-es, seen through real clients: deadlines, compression, HTTP/2
 * reset codes, and error bodies per protocol.
 */

const MAX_TIMEOUT_MS = 2_000;
const WATCH = "/grpc.health.v1.Health/Watch";

let svc: TestService;
let grpcJs: GrpcJsClient;
let admin: Record<string, string>;

beforeAll(async () => {
  svc = await startTestService({ max_timeout_ms: MAX_TIMEOUT_MS });
  grpcJs = new GrpcJsClient(`127.0.0.1:${svc.port}`);
  admin = bearer(svc.keys.admin);
});
afterAll(async () => {
  grpcJs.close();
  await svc.stop();
});

/** The ConnectError a call fails with; fails the test when it succeeds. */
async function failureOf(p: Promise<unknown>): Promise<ConnectError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "call should have failed").toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

/** The transports of connect-es that speak to the service, by name. */
function transports(options: { compress?: boolean; interceptors?: Interceptor[] } = {}): [string, Transport][] {
  const baseUrl = svc.baseUrl;
  const common = { baseUrl, interceptors: options.interceptors ?? [], ...(options.compress && { sendCompression: compressionGzip, compressMinBytes: 0 }) };
  return [
    ["connect-node gRPC", createGrpcTransport(common)],
    ["connect-node Connect binary (HTTP/2)", createConnectTransport({ ...common, httpVersion: "2", useBinaryFormat: true })],
    ["connect-node Connect JSON (HTTP/1.1)", createConnectTransport({ ...common, httpVersion: "1.1" })],
    ["connect-node gRPC-web", createNodeGrpcWebTransport({ ...common, httpVersion: "1.1" })],
  ];
}

/** Health.Watch over grpc-js until it fails; resolves with the status code it failed with. */
function grpcJsWatch(deadline: Date): Promise<number> {
  return new Promise((resolve) => {
    const call = grpcJs.client.makeServerStreamRequest(
      WATCH,
      (m: Uint8Array) => Buffer.from(m),
      (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
      toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "" })),
      new grpc.Metadata(),
      { deadline },
    );
    call.on("data", () => {});
    call.on("error", (err: grpc.ServiceError) => resolve(err.code));
    call.on("end", () => resolve(-1));
  });
}

/** Health.Watch over a connect-es transport until it fails; the error's code and the time it took. */
async function connectWatch(transport: Transport, timeoutMs: number): Promise<{ code: Code | "ok"; elapsed: number }> {
  const started = Date.now();
  try {
    for await (const _ of createClient(Health, transport).watch({ service: "" }, { timeoutMs })) {
      // SERVING, then nothing until the deadline.
    }
    return { code: "ok", elapsed: Date.now() - started };
  } catch (err) {
    return { code: ConnectError.from(err).code, elapsed: Date.now() - started };
  }
}

describe("deadlines", () => {
  it("a deadline under max_timeout_ms is honoured on every protocol", async () => {
    const runs = await Promise.all([
      ...transports().map(async ([name, t]) => [name, await connectWatch(t, 300)] as const),
      (async () => ["connect-web gRPC-web", await connectWatch(createGrpcWebTransport({ baseUrl: svc.baseUrl }), 300)] as const)(),
      (async () => {
        const started = Date.now();
        const code = await grpcJsWatch(new Date(Date.now() + 300));
        return ["grpc-js", { code, elapsed: Date.now() - started }] as const;
      })(),
    ]);
    for (const [name, { code, elapsed }] of runs) {
      expect(code, name).toBe(Code.DeadlineExceeded);
      expect(elapsed, name).toBeGreaterThanOrEqual(250);
      expect(elapsed, name).toBeLessThan(MAX_TIMEOUT_MS);
    }
  });

  it("a longer deadline is capped at max_timeout_ms, not refused (grpc-js, Connect JSON over HTTP/1.1, connect-node gRPC-web)", async () => {
    const started = Date.now();
    const [grpcJsCode, connectJson, grpcWeb] = await Promise.all([
      grpcJsWatch(new Date(Date.now() + 3600_000)),
      connectWatch(transports()[2]![1], 3600_000),
      connectWatch(transports()[3]![1], 3600_000),
    ]);
    const elapsed = Date.now() - started;
    expect(grpcJsCode).toBe(Code.DeadlineExceeded);
    expect(connectJson.code).toBe(Code.DeadlineExceeded);
    expect(grpcWeb.code).toBe(Code.DeadlineExceeded);
    expect(elapsed).toBeGreaterThanOrEqual(MAX_TIMEOUT_MS - 100);
    expect(elapsed).toBeLessThan(MAX_TIMEOUT_MS + 3_000);
  });
});

describe("compression", () => {
  // 3 KiB of metadata: GetSession's answer is past connect-es's 1 KiB threshold for compressing.
  const metadata = { big: new Uint8Array(3 * 1024).fill(0x61) };

  it("gzip requests are read and answers are gzip when the client accepts it, on every protocol", async () => {
    const encodings = new Map<string, string | null>();
    const seen = (name: string): Interceptor => (next) => async (req) => {
      const res = await next(req);
      // gRPC and gRPC-web name the message encoding, Connect unary the body's.
      encodings.set(name, res.header.get("grpc-encoding") ?? res.header.get("content-encoding"));
      return res;
    };
    for (const [name] of transports()) {
      const [, transport] = transports({ compress: true, interceptors: [seen(name)] }).find(([n]) => n === name)!;
      const client = createClient(SessionControl, transport);
      const created = await client.createSession({ userId: "gzip", metadata }, { headers: admin });
      const got = await client.getSession({ sessionId: created.sessionId }, { headers: admin });
      expect([...got.session!.metadata["big"]!], name).toEqual([...metadata.big]);
      expect(encodings.get(name), name).toBe("gzip");
    }
  });

  it("grpc-js sending gzip (its default_compression_algorithm) gets its answer", async () => {
    const client = new grpc.Client(`127.0.0.1:${svc.port}`, grpc.credentials.createInsecure(), { "grpc.default_compression_algorithm": 2 });
    try {
      const call = <I, O>(method: { name: string; input: never; output: never }, input: I) =>
        new Promise<O>((resolve, reject) => {
          const md = new grpc.Metadata();
          md.set("authorization", admin["authorization"]!);
          client.makeUnaryRequest(
            `/${SessionControl.typeName}/${method.name}`,
            (m: I) => Buffer.from(toBinary(method.input, m as never)),
            (b: Buffer) => fromBinary(method.output, b) as O,
            input,
            md,
            (err, res) => (err ? reject(err) : resolve(res!)),
          );
        });
      const created = await call<unknown, { sessionId: string }>(SessionControl.method.createSession as never, create(SessionControl.method.createSession.input, { userId: "gzip-js", metadata }));
      const got = await call<unknown, { session?: { metadata: Record<string, Uint8Array> } }>(SessionControl.method.getSession as never, create(SessionControl.method.getSession.input, { sessionId: created.sessionId }));
      expect(got.session?.metadata["big"]?.length).toBe(metadata.big.length);
    } finally {
      client.close();
    }
  });
});

describe("the call line of a stream says how it ended", () => {
  /** The call line of the next Health.Watch call that ends after `action`. */
  async function nextWatchLine(action: () => Promise<void>): Promise<Record<string, unknown>> {
    const before = svc.logs.length;
    await action();
    const line = () => svc.logs.slice(before).find((l) => l["msg"] === "call" && l["procedure"] === WATCH);
    await until("the call line", () => line() !== undefined);
    return line()!;
  }

  it("a Watch ended by its deadline: DEADLINE_EXCEEDED", async () => {
    // A raw stream that waits for the server's answer: a client enforcing the deadline itself could reset the stream first.
    const session = http2.connect(svc.baseUrl);
    try {
      const line = await nextWatchLine(async () => {
        const req = session.request({ ":method": "POST", ":path": WATCH, "content-type": "application/grpc", te: "trailers", "grpc-timeout": "200m" });
        const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.once("trailers", resolve));
        req.resume();
        req.end(Buffer.from([0, 0, 0, 0, 0]));
        expect((await trailers)["grpc-status"]).toBe(String(Code.DeadlineExceeded));
      });
      expect(line["code"]).toBe("DEADLINE_EXCEEDED");
    } finally {
      session.destroy();
    }
  });

  it.each([
    ["CANCEL", http2.constants.NGHTTP2_CANCEL],
    ["ENHANCE_YOUR_CALM", http2.constants.NGHTTP2_ENHANCE_YOUR_CALM],
    ["INTERNAL_ERROR", http2.constants.NGHTTP2_INTERNAL_ERROR],
  ])("a Watch whose stream the client resets (%s) while the handler waits: CANCELED", async (_name, rstCode) => {
    const session = http2.connect(svc.baseUrl);
    try {
      const line = await nextWatchLine(async () => {
        const req = session.request({ ":method": "POST", ":path": WATCH, "content-type": "application/grpc", te: "trailers" });
        req.on("error", () => {});
        const first = new Promise<void>((resolve) => req.once("data", () => resolve()));
        req.end(Buffer.from([0, 0, 0, 0, 0]));
        await first;
        req.close(rstCode);
      });
      expect(line["code"]).toBe("CANCELED");
    } finally {
      session.destroy();
    }
  });
});

describe("error bodies per protocol", () => {
  const GET_SESSION = `/${SessionControl.typeName}/GetSession`;
  // GetSession{session_id: "missing"}: NOT_FOUND for a caller holding session.read.
  const request = toBinary(SessionControl.method.getSession.input, create(SessionControl.method.getSession.input, { sessionId: "missing" }));
  const framed = (flag: number, body: Uint8Array) => {
    const head = Buffer.from([flag, 0, 0, 0, 0]);
    head.writeUInt32BE(body.length, 1);
    return Buffer.concat([head, body]);
  };

  it("gRPC: HTTP 200, grpc-status and a percent-encoded grpc-message in the trailers, ErrorInfo in grpc-status-details-bin", async () => {
    const session = http2.connect(svc.baseUrl);
    try {
      const res = await new Promise<{ head: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }>((resolve, reject) => {
        const req = session.request({ ":method": "POST", ":path": GET_SESSION, "content-type": "application/grpc", te: "trailers", ...admin });
        let head: http2.IncomingHttpHeaders = {};
        let trailers: http2.IncomingHttpHeaders = {};
        req.on("response", (h) => (head = h));
        req.on("trailers", (t) => (trailers = t));
        req.on("error", reject);
        req.resume();
        req.on("end", () => resolve({ head, trailers }));
        req.end(framed(0, request));
      });
      expect(res.head[":status"]).toBe(200);
      expect(res.head["content-type"]).toMatch(/^application\/grpc(\+proto)?$/);
      const status = { ...res.head, ...res.trailers };
      expect(status["grpc-status"]).toBe(String(Code.NotFound));
      expect(decodeURIComponent(String(status["grpc-message"]))).toBe("session not found");
      expect(status["grpc-status-details-bin"]).toBeDefined();
    } finally {
      session.destroy();
    }
    // The same through a gRPC client: the code and its ErrorInfo.
    const err = await failureOf(createClient(SessionControl, transports()[0]![1]).getSession({ sessionId: "missing" }, { headers: admin }));
    expect(err.code).toBe(Code.NotFound);
    expect(err.findDetails(ErrorInfoSchema).length).toBe(1);
    await expect(grpcJs.call(SessionControl.method.getSession, { sessionId: "missing" }, admin)).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("gRPC-web: HTTP 200, the status in a trailer frame (flag 0x80) at the end of the body", async () => {
    const res = await fetch(`${svc.baseUrl}${GET_SESSION}`, { method: "POST", headers: { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...admin }, body: framed(0, request) });
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body[0]).toBe(0x80);
    const trailer = body.subarray(5, 5 + body.readUInt32BE(1)).toString("latin1");
    expect(trailer).toMatch(new RegExp(`grpc-status: ?${Code.NotFound}\\r\\n`));
    expect(trailer).toMatch(/grpc-status-details-bin: /);
    const err = await failureOf(createClient(SessionControl, createGrpcWebTransport({ baseUrl: svc.baseUrl })).getSession({ sessionId: "missing" }, { headers: admin }));
    expect(err.code).toBe(Code.NotFound);
    expect(err.findDetails(ErrorInfoSchema).length).toBe(1);
  });

  it("Connect unary: the code's HTTP status (404) and a JSON error with code, message and details", async () => {
    for (const [contentType, body] of [["application/proto", request], ["application/json", JSON.stringify({ sessionId: "missing" })]] as const) {
      const res = await fetch(`${svc.baseUrl}${GET_SESSION}`, { method: "POST", headers: { "content-type": contentType, ...admin }, body });
      expect(res.status, contentType).toBe(404);
      expect(res.headers.get("content-type"), contentType).toBe("application/json");
      const error = (await res.json()) as { code?: string; message?: string; details?: { type: string }[] };
      expect(error.code, contentType).toBe("not_found");
      expect(error.message, contentType).toBe("session not found");
      expect(error.details?.map((d) => d.type), contentType).toContain("google.rpc.ErrorInfo");
    }
    const err = await failureOf(createClient(SessionControl, transports()[2]![1]).getSession({ sessionId: "missing" }, { headers: admin }));
    expect(err.code).toBe(Code.NotFound);
    expect(err.findDetails(ErrorInfoSchema).length).toBe(1);
  });

  it("Connect streaming: HTTP 200 and the error in the end-stream message", async () => {
    const res = await fetch(`${svc.baseUrl}${WATCH}`, {
      method: "POST",
      headers: { "content-type": "application/connect+json", "connect-timeout-ms": "200" },
      body: framed(0, Buffer.from("{}")),
    });
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    // SERVING, then the end-stream message (flag 0x02) with the deadline's error.
    let at = 0;
    let end: { error?: { code?: string } } | undefined;
    while (at + 5 <= body.length) {
      const length = body.readUInt32BE(at + 1);
      if (body[at] === 0x02) end = JSON.parse(body.subarray(at + 5, at + 5 + length).toString()) as typeof end;
      at += 5 + length;
    }
    expect(end?.error?.code).toBe("deadline_exceeded");
  });
});
