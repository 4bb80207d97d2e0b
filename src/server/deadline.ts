import type { IncomingHttpHeaders } from "node:http";

const GRPC_UNITS_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** A `grpc-timeout` header's value in ms; undefined when absent or malformed. */
function grpcTimeoutMs(value: string | string[] | undefined): number | undefined {
  const m = /^(\d{1,8})([HMSmun])$/.exec(String(value ?? ""));
  return m ? Number(m[1]) * GRPC_UNITS_MS[m[2]!]! : undefined;
}

/**
 * Caps the caller's deadline at maxMs by rewriting the protocol's timeout header before the
 * framework reads it. Calls without a deadline keep none: arming a timer for every call costs
 * throughput, and unary work here is bounded by the store and by each provider's timeout.
 */
export function capDeadline(headers: IncomingHttpHeaders, maxMs: number): void {
  const grpcTimeout = headers["grpc-timeout"];
  if (grpcTimeout !== undefined) {
    if ((grpcTimeoutMs(grpcTimeout) ?? 0) > maxMs) headers["grpc-timeout"] = `${maxMs}m`;
    return;
  }
  const connectTimeout = headers["connect-timeout-ms"];
  if (connectTimeout !== undefined && Number(connectTimeout) > maxMs) headers["connect-timeout-ms"] = String(maxMs);
}

/**
 * A REST call's time limit: its `Grpc-Timeout` header, as grpc-gateway (Zitadel's REST API) reads
 * it, capped at maxMs as RPC deadlines are; maxMs without one.
 */
export function restTimeoutMs(headers: IncomingHttpHeaders, maxMs: number): number {
  return Math.min(grpcTimeoutMs(headers["grpc-timeout"]) ?? maxMs, maxMs);
}
