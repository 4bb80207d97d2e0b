import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckRequestSchema, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";
import { codeOf } from "../helpers/clients.js";
import { GrpcJsClient } from "../helpers/grpc-js.js";
import { startTestService, type TestService } from "../helpers/service.js";

/** Every service the port serves, as reflection lists them, and "" for the whole server. */
const NAMES = [
  "",
  "sessioncontrol.v1.SessionControl",
  "zitadel.session.v2.SessionService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

let svc: TestService;
let grpcJs: GrpcJsClient;
let stopping: Promise<void> | undefined;

beforeAll(async () => {
  svc = await startTestService({ shutdown_grace_ms: 2_000 });
  grpcJs = new GrpcJsClient(`127.0.0.1:${svc.port}`);
});
afterAll(async () => {
  grpcJs.close();
  await (stopping ?? svc.stop());
});

describe("health for every served service name", () => {
  it.each(NAMES)("Check %j is SERVING through @grpc/grpc-js", async (service) => {
    expect((await grpcJs.call(Health.method.check, { service })).status).toBe(ServingStatus.SERVING);
  });

  it.each(NAMES)("Check %j is SERVING through Connect JSON over HTTP/1.1", async (service) => {
    const client = createClient(Health, createConnectTransport({ baseUrl: svc.baseUrl, httpVersion: "1.1" }));
    expect((await client.check({ service }, { timeoutMs: 5_000 })).status).toBe(ServingStatus.SERVING);
  });

  it("lists exactly these names, all SERVING", async () => {
    const client = createClient(Health, createGrpcTransport({ baseUrl: svc.baseUrl }));
    const { statuses } = await client.list({}, { timeoutMs: 5_000 });
    expect(Object.fromEntries(Object.entries(statuses).map(([name, s]) => [name, s.status]))).toEqual(Object.fromEntries(NAMES.map((n) => [n, ServingStatus.SERVING])));
  });

  it("answers NOT_FOUND for an unknown name", async () => {
    expect(await codeOf(grpcJs.call(Health.method.check, { service: "sessioncontrol.v1.Nope" }))).toBe(Code.NotFound);
    const client = createClient(Health, createGrpcTransport({ baseUrl: svc.baseUrl }));
    expect(await codeOf(client.check({ service: "sessioncontrol.v1.SessionControl.Terminate" }, { timeoutMs: 5_000 }))).toBe(Code.NotFound);
  });
});

// Last: it stops the service.
describe("on shutdown", () => {
  it("every watched name turns NOT_SERVING", async () => {
    const client = createClient(Health, createGrpcTransport({ baseUrl: svc.baseUrl }));
    const abort = new AbortController();
    const watches = NAMES.map((service) => client.watch(create(HealthCheckRequestSchema, { service }), { signal: abort.signal, timeoutMs: 10_000 })[Symbol.asyncIterator]());
    try {
      for (const w of watches) expect((await w.next()).value?.status).toBe(ServingStatus.SERVING);
      stopping = svc.stop();
      const after = await Promise.all(watches.map((w) => w.next()));
      expect(after.map((r) => r.value?.status)).toEqual(NAMES.map(() => ServingStatus.NOT_SERVING));
    } finally {
      abort.abort();
      await Promise.allSettled(watches.map((w) => w.return?.()));
    }
    await stopping;
  });
});
