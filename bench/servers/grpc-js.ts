import { fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, type HealthCheckRequest, type HealthCheckResponse } from "../../gen/grpc/health/v1/health_pb.js";
import { serveChild } from "./child.js";
import { CHECK_PATH, SERVING } from "./health-echo.js";

const definition: grpc.ServiceDefinition = {
  check: {
    path: CHECK_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: HealthCheckRequest) => Buffer.from(toBinary(HealthCheckRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(HealthCheckRequestSchema, b),
    responseSerialize: (m: HealthCheckResponse) => Buffer.from(toBinary(HealthCheckResponseSchema, m)),
    responseDeserialize: (b: Buffer) => fromBinary(HealthCheckResponseSchema, b),
  },
};

/** Bare @grpc/grpc-js: the same method, messages (de)serialized with protobuf-es. */
serveChild(async () => {
  const server = new grpc.Server();
  server.addService(definition, {
    check: (_call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: grpc.sendUnaryData<HealthCheckResponse>) => callback(null, SERVING),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
});
