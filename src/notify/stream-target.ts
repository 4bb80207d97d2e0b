import { Secret } from "../config/secret.js";
import type { StreamRecord } from "../store/stream-types.js";
import type { Target } from "./targets.js";

/** Where a stream's SETs go (its authorization_header as the Authorization value, its aud); undefined for a disabled stream, which is sent nothing. */
export function streamTarget(stream: StreamRecord): Target | undefined {
  if (stream.status === "disabled") return undefined;
  const { endpoint_url, authorization_header } = stream.config.delivery;
  return {
    kind: "ssf",
    endpoint: endpoint_url,
    ...(authorization_header !== undefined && { authorization: new Secret(authorization_header) }),
    audience: stream.config.aud,
    subjectFormat: "complex",
  };
}
