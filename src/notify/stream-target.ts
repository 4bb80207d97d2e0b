import { Secret } from "../config/secret.js";
import type { StreamRecord } from "../store/stream-types.js";

/** How long a stream's deliveries are tried: one day, as for a configured receiver by default. */
export const STREAM_MAX_AGE_MS = 24 * 3_600_000;

/** Where a stream's SETs go, and how (the delivery worker's view of a stream). */
export interface StreamTarget {
  kind: "ssf";
  endpoint: string;
  /** The stream's authorization_header, sent as the Authorization header's value. */
  authorization?: Secret;
  /** The SETs' `aud`. */
  audience: string;
  subjectFormat: "complex";
  maxAgeMs: number;
}

/** A stream's target; undefined for a disabled stream, which is sent nothing. */
export function streamTarget(stream: StreamRecord): StreamTarget | undefined {
  if (stream.status === "disabled") return undefined;
  const { endpoint_url, authorization_header } = stream.config.delivery;
  return {
    kind: "ssf",
    endpoint: endpoint_url,
    ...(authorization_header !== undefined && { authorization: new Secret(authorization_header) }),
    audience: stream.config.aud,
    subjectFormat: "complex",
    maxAgeMs: STREAM_MAX_AGE_MS,
  };
}
