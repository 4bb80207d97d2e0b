import { createHmac } from "node:crypto";

/** The name under which the store keeps the key of workRequestId. */
export const WORK_REQUEST_ID_SECRET = "work_request_id";

/**
 * The request id of one session's termination within an operation: the same on every attempt
 * and every replica, so retries are recognisably the same request (a name-based UUID, version 5
 * layout). Keyed with the service's secret (HMAC-SHA-256), so that no caller can compute it.
 */
export function workRequestId(key: Buffer, operationId: string, provider: string, sessionId: string): string {
  return derivedRequestId(key, operationId, provider, sessionId);
}

/** A request id derived from `parts` with the service's secret, in the layout of a name-based UUID: the same for the same parts, on every replica. */
export function derivedRequestId(key: Buffer, ...parts: string[]): string {
  const h = createHmac("sha256", key).update(parts.join("\0")).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
