import { Code } from "@connectrpc/connect";

/** One row of a provider's mapping table: an upstream answer and the status the caller gets. */
export interface MappingRow {
  /** The upstream's code (the table's key). */
  upstream: string;
  code: Code;
  /** google.rpc.ErrorInfo reason. */
  reason: string;
  /** Whether retrying the same request can succeed (adds google.rpc.RetryInfo). */
  retryable?: boolean;
  /** What the caller reads; the upstream's own message travels in the ErrorInfo metadata. */
  message?: string;
}

export type MappingTable = readonly MappingRow[];

/** The row for answers a table does not know: the upstream said something unexpected. */
export const UNMAPPED: MappingRow = { upstream: "*", code: Code.Unknown, reason: "UPSTREAM_UNEXPECTED_ANSWER" };
