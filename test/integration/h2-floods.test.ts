import http2 from "node:http2";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { startTestService, type TestService } from "../helpers/service.js";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK: literal header fields without indexing, new names, no Huffman coding. */
function headerBlock(fields: [string, string][]): Buffer {
  return Buffer.concat(fields.map(([n, v]) => Buffer.concat([Buffer.from([0x00, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v)])));
}

const REQUEST = headerBlock([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/grpc.health.v1.Health/Check"],
  ["content-type", "application/grpc"],
]);

/** Each attack comes from an address of its own (all of 127/8 is loopback): a flood puts its address in the penalty box. */
let attacker = 20;

/** Sends the preface, an empty SETTINGS, then `attack`; resolves with the GOAWAY error code the server sent, if any, once it closed the connection. */
function attack(frames: Buffer, localAddress = `127.0.0.${++attacker}`): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ port: svc.port, host: "127.0.0.1", localAddress });
    let received = Buffer.alloc(0);
    socket.on("connect", () => socket.write(Buffer.concat([PREFACE, frame(0x4, 0, 0), frames])));
    socket.on("data", (c: Buffer) => (received = Buffer.concat([received, c])));
    socket.on("error", () => {});
    socket.on("close", () => {
      let at = 0;
      let goaway: number | undefined;
      while (at + 9 <= received.length) {
        const length = received.readUIntBE(at, 3);
        if (received[at + 3] === 0x7 && at + 17 <= received.length) goaway = received.readUInt32BE(at + 13);
        at += 9 + length;
      }
      resolve(goaway);
    });
  });
}

/** Whether the server answers a new connection's preface from `localAddress` (true on its first bytes; false when it closes first). */
function answered(localAddress: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port: svc.port, host: "127.0.0.1", localAddress });
    socket.on("connect", () => socket.write(Buffer.concat([PREFACE, frame(0x4, 0, 0)])));
    socket.on("error", () => {});
    socket.once("data", () => {
      resolve(true);
      socket.destroy();
    });
    socket.on("close", () => resolve(false));
  });
}

async function stillServing(): Promise<void> {
  const health = createClient(Health, createGrpcTransport({ baseUrl: svc.baseUrl }));
  expect((await health.check({ service: "" }, { timeoutMs: 2_000 })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
}

describe("HTTP/2 floods cost only their own connection", () => {
  it("rapid reset (HEADERS then RST_STREAM, 1,000 times): GOAWAY with an error code", async () => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      const id = 1 + 2 * i;
      frames.push(frame(0x1, 0x4, id, REQUEST), frame(0x3, 0, id, Buffer.from([0, 0, 0, 8])));
    }
    // nghttp2's own reset-rate limit (INTERNAL_ERROR) or the service's (ENHANCE_YOUR_CALM), whichever is hit first.
    expect(await attack(Buffer.concat(frames))).toBeGreaterThan(0);
    await stillServing();
  });

  it.each([
    ["PING", () => frame(0x6, 0, 0, Buffer.alloc(8))],
    ["SETTINGS", () => frame(0x4, 0, 0)],
  ])("%s flood (1,000 frames): GOAWAY ENHANCE_YOUR_CALM, and the flooder's next connection is refused", async (_name, make) => {
    const from = `127.0.0.${++attacker}`;
    expect(await attack(Buffer.concat(Array.from({ length: 1000 }, make)), from)).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    // Penalty box: the next connection is closed before the server sends a frame; another address is served.
    expect(await answered(from)).toBe(false);
    expect(await answered(`127.0.0.${++attacker}`)).toBe(true);
    await stillServing();
  });

  it("CONTINUATION flood: the connection is closed", async () => {
    const frames = [frame(0x1, 0, 1, REQUEST)];
    for (let i = 0; i < 1000; i++) frames.push(frame(0x9, 0, 1, headerBlock([[`x-${i}`, "y".repeat(100)]])));
    expect(await attack(Buffer.concat(frames))).toBeDefined();
    await stillServing();
  });

  it("a 1 MB header block is refused", async () => {
    const session = http2.connect(svc.baseUrl);
    session.on("error", () => {});
    try {
      const req = session.request({ ":method": "POST", ":path": "/grpc.health.v1.Health/Check", "content-type": "application/grpc", "x-big": "y".repeat(1024 * 1024) });
      req.on("error", () => {});
      const status = await new Promise<number | undefined>((resolve) => {
        req.on("response", (h) => resolve(Number(h[":status"])));
        req.on("close", () => resolve(undefined));
        req.end();
      });
      expect(status).toBeUndefined();
    } finally {
      session.destroy();
    }
    await stillServing();
  });
});
