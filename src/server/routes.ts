import type { ConnectRouter } from "@connectrpc/connect";
import { SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../gen/google/rpc/status_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1Alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { OperationsImpl } from "../api/operations.js";
import { sessionControlService } from "../api/session-control.js";
import type { TerminateAction } from "../api/terminate.js";
import { zitadelSessionService } from "../api/zitadel-compat.js";
import type { SessionStore } from "../store/store.js";
import { healthRoutes, type HealthStatus } from "./health.js";
import { reflectionRoutes } from "./reflection.js";

/** Services that answer without credentials, so probes and `buf curl` work with no key. */
export const PUBLIC_SERVICES: ReadonlySet<string> = new Set([Health.typeName, ReflectionV1.typeName, ReflectionV1Alpha.typeName]);

/** Largest request message of the public services: theirs are a service or symbol name, and anyone may send them. */
export const PUBLIC_READ_MAX_BYTES = 16 * 1024;

const SERVED = [SessionControl, SessionService, Health, ReflectionV1, ReflectionV1Alpha];

/** Every service name served on the port: health answers SERVING for each. */
export const SERVED_NAMES: readonly string[] = SERVED.map((s) => s.typeName);

export function routes(sessions: SessionStore, terminate: TerminateAction, operations: OperationsImpl, health: HealthStatus): (router: ConnectRouter) => void {
  return (router) => {
    router.service(SessionControl, { ...sessionControlService(sessions, terminate), ...operations });
    router.service(SessionService, zitadelSessionService(terminate));
    healthRoutes(health, { readMaxBytes: PUBLIC_READ_MAX_BYTES })(router);
    reflectionRoutes(SERVED, [file_google_rpc_status, file_google_rpc_error_details], { readMaxBytes: PUBLIC_READ_MAX_BYTES })(router);
  };
}
