import { create, toBinary } from "@bufbuild/protobuf";
import { HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../../gen/grpc/health/v1/health_pb.js";

/** The one-field unary call every comparison server answers: grpc.health.v1.Health/Check. */
export const CHECK_PATH = "/grpc.health.v1.Health/Check";

/** The answer of the comparison servers: HealthCheckResponse{status: SERVING}. */
export const SERVING = create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING });
export const SERVING_BYTES = toBinary(HealthCheckResponseSchema, SERVING);
