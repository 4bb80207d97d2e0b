import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/**
 * Answers every upstream can give, consulted after the provider's own table: failures of
 * the connection, of the caller's deadline, of the breaker, and HTTP statuses in general.
 */
export const transportTable: MappingTable = [
  { when: { code: "transport.canceled" }, answer: "the caller cancelled the call", code: Code.Canceled, reason: "CALL_CANCELED" },
  { when: { code: "transport.deadline" }, answer: "the caller's deadline passed before the upstream answered", code: Code.DeadlineExceeded, reason: "CALLER_DEADLINE_EXCEEDED" },
  { when: { code: "transport.timeout" }, answer: "no answer within the provider's timeout", code: Code.DeadlineExceeded, reason: "UPSTREAM_TIMEOUT", retryable: true },
  { when: { code: "transport.refused" }, answer: "connection refused, or the host cannot be reached", code: Code.Unavailable, reason: "UPSTREAM_UNREACHABLE", retryable: true },
  { when: { code: "transport.reset" }, answer: "connection reset or closed before a whole answer", code: Code.Unavailable, reason: "UPSTREAM_CONNECTION_RESET", retryable: true },
  { when: { code: "transport.breaker_open" }, answer: "circuit breaker open after repeated failures", code: Code.Unavailable, reason: "PROVIDER_CIRCUIT_OPEN", retryable: true },
  { when: { httpStatus: 429 }, answer: "HTTP 429", code: Code.Unavailable, reason: "UPSTREAM_RATE_LIMITED", retryable: true },
  { when: { httpStatus: [500, 599] }, answer: "HTTP 5xx", code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", retryable: true },
  { when: { code: "transport.malformed" }, answer: "success status with a body that is not the documented JSON", code: Code.Unknown, reason: "UPSTREAM_MALFORMED_ANSWER" },
];
