import type { IncomingHttpHeaders } from "node:http";
import { cors } from "@connectrpc/connect";

const ALLOW_METHODS = [...cors.allowedMethods, "DELETE"].join(", ");
const ALLOW_HEADERS = [...cors.allowedHeaders, "Authorization"].join(", ");
const EXPOSE_HEADERS = cors.exposedHeaders.join(", ");

interface HeaderSink {
  setHeader(name: string, value: string): unknown;
}

/**
 * Adds CORS headers for allowed origins, so browsers can call and read gRPC-web errors.
 * Nothing is allowed unless configured. "*" is answered as "*", never by echoing the origin.
 * The origin "null" (sandboxed frames, file: and data: pages, redirects) is never allowed, even with "*".
 * Returns true when the request was a preflight that the caller should answer with 204.
 */
export function applyCors(method: string, headers: IncomingHttpHeaders, res: HeaderSink, allowedOrigins: readonly string[]): boolean {
  const origin = headers["origin"];
  if (!origin || allowedOrigins.length === 0) return false;
  // The answer depends on the origin (null or not, listed or not), so caches must key on it.
  res.setHeader("vary", "Origin");
  if (origin === "null") return false;
  const allowed = allowedOrigins.includes(origin) ? origin : allowedOrigins.includes("*") ? "*" : undefined;
  if (allowed === undefined) return false;
  res.setHeader("access-control-allow-origin", allowed);
  if (method === "OPTIONS" && headers["access-control-request-method"]) {
    res.setHeader("access-control-allow-methods", ALLOW_METHODS);
    res.setHeader("access-control-allow-headers", ALLOW_HEADERS);
    res.setHeader("access-control-max-age", "7200");
    return true;
  }
  res.setHeader("access-control-expose-headers", EXPOSE_HEADERS);
  return false;
}
