import { createClient } from "@connectrpc/connect";
import { compressionGzip, createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

describe("compressed requests", () => {
  it.each([
    ["Connect binary", (baseUrl: string) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, sendCompression: compressionGzip, compressMinBytes: 0 })],
    ["gRPC", (baseUrl: string) => createGrpcTransport({ baseUrl, sendCompression: compressionGzip, compressMinBytes: 0 })],
  ])("gzip over %s is decoded, not refused as invalid protobuf", async (_name, transport) => {
    const client = createClient(SessionControl, transport(svc.baseUrl));
    const created = await client.createSession({ userId: "gzip", metadata: { k: new Uint8Array(512) } }, { headers: bearer(svc.keys.admin) });
    const ended = await client.terminate({ sessionId: created.sessionId, sessionToken: created.sessionToken }, { headers: bearer(svc.keys.nobody) });
    expect(ended.alreadyTerminated).toBe(false);
  });
});
