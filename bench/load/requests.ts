import { create, toBinary } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { ListSessionsRequestSchema, TerminateRequestSchema } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { envelope } from "./frames.js";

/** Paths and pre-encoded request frames of the calls the benchmark makes. */
export const PATHS = {
  check: "/grpc.health.v1.Health/Check",
  terminate: "/sessioncontrol.v1.SessionControl/Terminate",
  listSessions: "/sessioncontrol.v1.SessionControl/ListSessions",
} as const;

export function checkFrame(service: string): Buffer {
  return envelope(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service })));
}

export function terminateFrame(sessionId: string): Buffer {
  return envelope(toBinary(TerminateRequestSchema, create(TerminateRequestSchema, { sessionId })));
}

export function listFrame(userId: string, pageSize: number, pageToken = ""): Buffer {
  return envelope(toBinary(ListSessionsRequestSchema, create(ListSessionsRequestSchema, { userId, pageSize, pageToken })));
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}
