import type { IncomingHttpHeaders } from "node:http";

const GRPC_UNITS_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * Caps the caller's deadline at maxMs by rewriting the protocol's timeout header before the
 * framework reads it. Calls without a deadline keep none: arming a timer for every call costs
 * throughput, and unary work here is bounded by the store and by each provider's timeout.
 */
export function capDeadline(headers: IncomingHttpHeaders, maxMs: number): void {
  const grpcTimeout = headers["grpc-timeout"];
  if (grpcTimeout !== undefined) {
    const m = /^(\d{1,8})([HMSmun])$/.exec(String(grpcTimeout));
    if (m && Number(m[1]) * GRPC_UNITS_MS[m[2]!]! > maxMs) headers["grpc-timeout"] = `${maxMs}m`;
    return;
  }
  const connectTimeout = headers["connect-timeout-ms"];
  if (connectTimeout !== undefined && Number(connectTimeout) > maxMs) headers["connect-timeout-ms"] = String(maxMs);
}
