import type { IncomingHttpHeaders } from "node:http";

const GRPC_UNITS_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/**
 * Caps the caller's deadline at maxMs, and gives calls without one that deadline, by rewriting
 * the protocol's timeout header before the framework reads it.
 */
export function capDeadline(headers: IncomingHttpHeaders, maxMs: number): void {
  const contentType = headers["content-type"] ?? "";
  if (contentType.startsWith("application/grpc")) {
    const m = /^(\d{1,8})([HMSmun])$/.exec(String(headers["grpc-timeout"] ?? ""));
    if (!m || Number(m[1]) * GRPC_UNITS_MS[m[2]!]! > maxMs) headers["grpc-timeout"] = `${maxMs}m`;
  } else {
    const asked = Number(headers["connect-timeout-ms"]);
    if (!(asked > 0 && asked <= maxMs)) headers["connect-timeout-ms"] = String(maxMs);
  }
}
