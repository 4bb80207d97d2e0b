import type { UpstreamAnswer } from "./answer.js";
import { codeName } from "./code-names.js";
import { Failure } from "./failure.js";
import { matches, UNMAPPED, type MappingRow, type MappingTable } from "./table.js";
import { transportTable } from "./transport.js";

/** RetryInfo's delay for an answer a retry can mend, when the upstream did not say when. */
const RETRY_AFTER_MS = 1000;

/** The row for an answer: the provider's own table first, then the answers common to all upstreams. */
export function classify(answer: UpstreamAnswer, table: MappingTable): MappingRow {
  return table.find((r) => matches(r, answer)) ?? transportTable.find((r) => matches(r, answer)) ?? UNMAPPED;
}

/**
 * A provider's answer that is not success, classified once, when it is made: the row it matched
 * travels with it (`row`) and decides the caller's status, retries, the breaker and the audit
 * trail. As a Failure its domain is the provider's name and its metadata the upstream's answer.
 */
export class ProviderFailure extends Failure {
  readonly row: MappingRow;

  constructor(
    /** The configured provider's name. */
    readonly provider: string,
    readonly answer: UpstreamAnswer,
    /** The provider's mapping table (src/status/<type>.ts). */
    table: MappingTable,
  ) {
    const row = classify(answer, table);
    // An upstream's words are bounded: they travel in trailers, the audit trail and the operation's work.
    const bounded = { ...answer, message: bound(answer.message) };
    super(codeName(row.code), row.reason, `${provider}: ${bounded.message}`, {
      domain: provider,
      retryable: row.retryable === true,
      ...(row.retryable && { retryAfterMs: answer.retryAfterMs ?? RETRY_AFTER_MS }),
      metadata: upstreamMetadata(bounded),
    });
    this.name = "ProviderFailure";
    this.row = row;
  }
}

/** The most of an upstream's message kept. */
const MAX_UPSTREAM_MESSAGE = 500;

function bound(message: string): string {
  return message.length <= MAX_UPSTREAM_MESSAGE ? message : `${message.slice(0, MAX_UPSTREAM_MESSAGE)}…`;
}

/** ErrorInfo metadata of an upstream answer; `upstream_status` is its HTTP status or gRPC code, whichever it has. */
function upstreamMetadata(answer: UpstreamAnswer): Record<string, string> {
  const status = answer.httpStatus ?? answer.grpcCode;
  return {
    upstream_message: answer.message,
    ...(answer.code !== undefined && { upstream_code: answer.code }),
    ...(status !== undefined && { upstream_status: String(status) }),
  };
}
