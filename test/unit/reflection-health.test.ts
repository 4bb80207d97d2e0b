import { create, createFileRegistry, fromBinary, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckRequestSchema } from "../../gen/grpc/health/v1/health_pb.js";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { HealthStatus, ServingStatus, healthRoutes } from "../../src/server/health.js";
import { reflectionRoutes } from "../../src/server/reflection.js";
import { until } from "../helpers/wait.js";

const services = [SessionControl, SessionService, Health, v1.ServerReflection, v1alpha.ServerReflection];

function serve(health = new HealthStatus()) {
  return createRouterTransport((router) => {
    healthRoutes(health)(router);
    reflectionRoutes(services)(router);
  });
}

// Version-neutral request init, assignable to both v1 and v1alpha request shapes.
type RequestInit = {
  host?: string;
  messageRequest:
    | { case: "listServices" | "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType"; value: string }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } };
};
type Response = v1.ServerReflectionResponse | v1alpha.ServerReflectionResponse;

async function* stream<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

const versions = [
  {
    name: "v1",
    reflect(requests: RequestInit[]): Promise<Response[]> {
      const client = createClient(v1.ServerReflection, serve());
      const messages = requests.map((r) => create(v1.ServerReflectionRequestSchema, r));
      return collect(client.serverReflectionInfo(stream(messages)));
    },
  },
  {
    name: "v1alpha",
    reflect(requests: RequestInit[]): Promise<Response[]> {
      const client = createClient(v1alpha.ServerReflection, serve());
      const messages = requests.map((r) => create(v1alpha.ServerReflectionRequestSchema, r));
      return collect(client.serverReflectionInfo(stream(messages)));
    },
  },
];

const symbol = (value: string): RequestInit => ({ messageRequest: { case: "fileContainingSymbol", value } });

function files(res: Response): FileDescriptorProto[] {
  if (res.messageResponse.case !== "fileDescriptorResponse") {
    throw new Error(`expected files, got ${res.messageResponse.case}: ${JSON.stringify(res.messageResponse.value)}`);
  }
  return res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

const names = (res: Response) => files(res).map((f) => f.name);

function errorCode(res: Response): number | undefined {
  return res.messageResponse.case === "errorResponse" ? res.messageResponse.value.errorCode : undefined;
}

function missingDependencies(sent: FileDescriptorProto[]): string[] {
  const have = new Set(sent.map((f) => f.name));
  return sent.flatMap((f) => f.dependency).filter((d) => !have.has(d));
}

/** Builds a registry from descriptors, as a reflection client would (dependencies first). */
function link(protos: FileDescriptorProto[]): FileRegistry {
  const byName = new Map(protos.map((f) => [f.name, f]));
  const ordered = new Set<FileDescriptorProto>();
  const visit = (f: FileDescriptorProto) => {
    if (ordered.has(f)) return;
    for (const dep of f.dependency) visit(byName.get(dep)!);
    ordered.add(f);
  };
  protos.forEach(visit);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: [...ordered] }));
}

describe.each(versions)("reflection $name", ({ reflect }) => {
  it("lists every served service", async () => {
    const [res] = await reflect([{ host: "h", messageRequest: { case: "listServices", value: "" } }]);
    expect(res?.messageResponse.case).toBe("listServicesResponse");
    const listed = res?.messageResponse.case === "listServicesResponse" ? res.messageResponse.value.service.map((s) => s.name) : [];
    expect(listed.sort()).toEqual(
      [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "sessioncontrol.v1.SessionControl",
        "zitadel.session.v2.SessionService",
      ].sort(),
    );
  });

  it("echoes host and original request", async () => {
    const [res] = await reflect([{ host: "example:443", ...symbol("sessioncontrol.v1.SessionControl") }]);
    expect(res?.validHost).toBe("example:443");
    expect(res?.originalRequest?.messageRequest).toEqual({ case: "fileContainingSymbol", value: "sessioncontrol.v1.SessionControl" });
  });

  it("returns the file declaring a service with its dependencies", async () => {
    const [res] = await reflect([symbol("sessioncontrol.v1.SessionControl")]);
    const got = names(res!);
    expect(got[0]).toBe("sessioncontrol/v1/session_control.proto");
    expect(got).toContain("google/protobuf/timestamp.proto");
    expect(got).toContain("google/protobuf/duration.proto");
  });

  it("resolves third-party files through all their dependencies", async () => {
    const [alone] = await reflect([symbol("zitadel.session.v2.SessionService")]);
    expect(names(alone!)[0]).toBe("zitadel/session/v2/session_service.proto");
    expect(names(alone!)).toEqual(expect.arrayContaining(["validate/validate.proto", "google/api/annotations.proto"]));
    expect(missingDependencies(files(alone!))).toEqual([]);
    // A client must be able to link the returned descriptors into a registry.
    const registry = link(files(alone!));
    expect(registry.getService("zitadel.session.v2.SessionService")?.methods.length).toBeGreaterThan(0);
  });

  it("does not resend files on one stream but keeps the stream closed under dependencies", async () => {
    const responses = await reflect([
      symbol("sessioncontrol.v1.SessionControl"),
      symbol("zitadel.session.v2.SessionService"),
      symbol("zitadel.session.v2.SessionService"),
    ]);
    const [first, second, third] = responses.map(names);
    expect(second?.[0]).toBe("zitadel/session/v2/session_service.proto");
    expect(second).not.toContain("google/protobuf/timestamp.proto");
    expect(third).toEqual(["zitadel/session/v2/session_service.proto"]);
    const all = [...first!, ...second!];
    expect(new Set(all).size).toBe(all.length);
    expect(missingDependencies(responses.flatMap(files))).toEqual([]);
    expect(link(responses.slice(0, 2).flatMap(files)).getService("zitadel.session.v2.SessionService")).toBeDefined();
  });

  it.each([
    ["sessioncontrol.v1.SessionControl.Terminate", "sessioncontrol/v1/session_control.proto"],
    ["sessioncontrol.v1.TerminateRequest", "sessioncontrol/v1/session_control.proto"],
    ["sessioncontrol.v1.TerminateRequest.session_id", "sessioncontrol/v1/session_control.proto"],
    ["zitadel.session.v2.UserAgent.HeaderValues", "zitadel/session/v2/session.proto"],
    ["zitadel.session.v2.SessionFieldName", "zitadel/session/v2/session.proto"],
    ["zitadel.session.v2.SESSION_FIELD_NAME_CREATION_DATE", "zitadel/session/v2/session.proto"],
    ["grpc.health.v1.HealthCheckResponse.SERVING", "grpc/health/v1/health.proto"],
    ["validate.rules", "validate/validate.proto"],
    ["google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
  ])("finds the file declaring %s", async (name, file) => {
    const [res] = await reflect([symbol(name)]);
    expect(names(res!)[0]).toBe(file);
  });

  it("answers file_by_filename", async () => {
    const [res] = await reflect([{ messageRequest: { case: "fileByFilename", value: "zitadel/session/v2/session.proto" } }]);
    expect(names(res!)[0]).toBe("zitadel/session/v2/session.proto");
    expect(missingDependencies(files(res!))).toEqual([]);
  });

  it("answers extension requests from the registry", async () => {
    const [numbers, byNumber, unknown] = await reflect([
      { messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.FieldOptions" } },
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 1071 },
        },
      },
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 1 },
        },
      },
    ]);
    expect(numbers?.messageResponse.case).toBe("allExtensionNumbersResponse");
    if (numbers?.messageResponse.case === "allExtensionNumbersResponse") {
      expect(numbers.messageResponse.value.baseTypeName).toBe("google.protobuf.FieldOptions");
      expect(numbers.messageResponse.value.extensionNumber).toContain(1071);
    }
    expect(names(byNumber!)[0]).toBe("validate/validate.proto");
    expect(errorCode(unknown!)).toBe(5);
  });

  it("reports unknown symbols, files and types in the stream, then keeps serving", async () => {
    const responses = await reflect([
      symbol("no.such.Symbol"),
      { messageRequest: { case: "fileByFilename", value: "no/such.proto" } },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "no.such.Type" } },
      { messageRequest: { case: "listServices", value: "" } },
    ]);
    expect(responses.map(errorCode)).toEqual([5, 5, 5, undefined]);
    expect(responses[3]?.messageResponse.case).toBe("listServicesResponse");
  });
});

describe("health", () => {
  it("checks the server and rejects unknown services", async () => {
    const client = createClient(Health, serve());
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    await expect(client.check({ service: "nope" })).rejects.toSatisfy(
      (e) => e instanceof ConnectError && e.code === Code.NotFound,
    );
  });

  it("lists every status", async () => {
    const health = new HealthStatus();
    health.set("sessioncontrol.v1.SessionControl", ServingStatus.NOT_SERVING);
    const { statuses } = await createClient(Health, serve(health)).list({});
    expect(Object.fromEntries(Object.entries(statuses).map(([k, v]) => [k, v.status]))).toEqual({
      "": ServingStatus.SERVING,
      "sessioncontrol.v1.SessionControl": ServingStatus.NOT_SERVING,
    });
  });

  it("ignores updates after shutdown", () => {
    const health = new HealthStatus();
    health.shutdown();
    health.set("", ServingStatus.SERVING);
    expect(health.get("")).toBe(ServingStatus.NOT_SERVING);
  });

  it("watches until shutdown and ends when aborted", async () => {
    const health = new HealthStatus();
    const abort = new AbortController();
    const client = createClient(Health, serve(health));
    const it = client.watch(create(HealthCheckRequestSchema, { service: "" }), { signal: abort.signal })[Symbol.asyncIterator]();
    expect((await it.next()).value?.status).toBe(ServingStatus.SERVING);
    expect(health.watchers).toBe(1);
    health.shutdown();
    expect((await it.next()).value?.status).toBe(ServingStatus.NOT_SERVING);
    const pending = it.next();
    abort.abort();
    await expect(pending).rejects.toSatisfy((e) => ConnectError.from(e).code === Code.Canceled);
    await until("the watcher to be gone", () => health.watchers === 0);
    expect(health.watchers).toBe(0);
  });

  it("streams SERVICE_UNKNOWN, then the status once the service appears, without leaking", async () => {
    const health = new HealthStatus();
    const abort = new AbortController();
    const watch = health.watch("svc", abort.signal);
    expect((await watch.next()).value).toBe(ServingStatus.SERVICE_UNKNOWN);
    const next = watch.next();
    health.set("other", ServingStatus.NOT_SERVING);
    health.set("svc", ServingStatus.SERVING);
    expect((await next).value).toBe(ServingStatus.SERVING);
    const end = watch.next();
    abort.abort();
    expect(await end).toEqual({ done: true, value: undefined });
    expect(health.watchers).toBe(0);
  });
});
