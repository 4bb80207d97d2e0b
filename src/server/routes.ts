import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { file_google_rpc_error_details } from "../../gen/google/rpc/error_details_pb.js";
import { file_google_rpc_status } from "../../gen/google/rpc/status_pb.js";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { ServerReflection as ReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1Alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { healthRoutes, type HealthStatus } from "./health.js";
import { reflectionRoutes } from "./reflection.js";

/** Services that answer without credentials, so probes and `buf curl` work with no key. */
export const PUBLIC_SERVICES: ReadonlySet<string> = new Set([Health.typeName, ReflectionV1.typeName, ReflectionV1Alpha.typeName]);

/** Largest request message of the public services: theirs are a service or symbol name, and anyone may send them. */
export const PUBLIC_READ_MAX_BYTES = 16 * 1024;

const SERVED = [SessionControl, SessionService, Health, ReflectionV1, ReflectionV1Alpha];

/** Every service name served on the port: health answers SERVING for each. */
export const SERVED_NAMES: readonly string[] = SERVED.map((s) => s.typeName);

/** The implementations served, built in main.ts. */
export interface ServedServices {
  sessionControl: ServiceImpl<typeof SessionControl>;
  zitadel: Partial<ServiceImpl<typeof SessionService>>;
  health: HealthStatus;
}

export function routes(services: ServedServices): (router: ConnectRouter) => void {
  return (router) => {
    router.service(SessionControl, services.sessionControl);
    router.service(SessionService, services.zitadel);
    healthRoutes(services.health, { readMaxBytes: PUBLIC_READ_MAX_BYTES })(router);
    reflectionRoutes(SERVED, [file_google_rpc_status, file_google_rpc_error_details], { readMaxBytes: PUBLIC_READ_MAX_BYTES })(router);
  };
}
