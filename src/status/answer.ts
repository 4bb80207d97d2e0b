/** An upstream's answer that is not success; the mapping layer picks the caller's status for it. */
export interface UpstreamAnswer {
  /** The HTTP status of the answer, from an upstream spoken to over HTTP. */
  httpStatus?: number;
  /** The gRPC status code of the answer, from an upstream spoken to over gRPC (Zitadel). */
  grpcCode?: number;
  /** The upstream's own error code or id, or `transport.*` for failures of the connection. */
  code?: string;
  message: string;
  /** When the upstream said to try again (Retry-After, a rate limit's reset), in ms from the answer: RetryInfo's delay. */
  retryAfterMs?: number;
}
