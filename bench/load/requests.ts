import { create, toBinary } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema } from "../../gen/grpc/health/v1/health_pb.js";
import {
  GetOperationRequestSchema,
  ListSessionsRequestSchema,
  TerminateRequestSchema,
  TerminateUserRequestSchema,
} from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { envelope } from "./frames.js";

/** Paths and pre-encoded request frames of the calls the benchmark makes. */
export const PATHS = {
  check: "/grpc.health.v1.Health/Check",
  terminate: "/sessioncontrol.v1.SessionControl/Terminate",
  listSessions: "/sessioncontrol.v1.SessionControl/ListSessions",
  terminateUser: "/sessioncontrol.v1.SessionControl/TerminateUser",
  getOperation: "/sessioncontrol.v1.SessionControl/GetOperation",
} as const;

export function checkFrame(service: string): Buffer {
  return envelope(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service })));
}

/** Terminate of one session; `provider` and `userId` only when given (the default provider otherwise). */
export function terminateFrame(sessionId: string, provider = "", userId = ""): Buffer {
  return envelope(toBinary(TerminateRequestSchema, create(TerminateRequestSchema, { sessionId, provider, userId })));
}

export function listFrame(userId: string, pageSize: number, pageToken = ""): Buffer {
  return envelope(toBinary(ListSessionsRequestSchema, create(ListSessionsRequestSchema, { userId, pageSize, pageToken })));
}

/** TerminateUser of one user; `providers` empty: every configured provider. */
export function terminateUserFrame(userId: string, providers: string[] = [], reason = "bench", providerUserIds: Record<string, string> = {}): Buffer {
  return envelope(toBinary(TerminateUserRequestSchema, create(TerminateUserRequestSchema, { userId, providers, reason, providerUserIds })));
}

export function getOperationFrame(id: string): Buffer {
  return envelope(toBinary(GetOperationRequestSchema, create(GetOperationRequestSchema, { id })));
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}
