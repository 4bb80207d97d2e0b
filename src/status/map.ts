import { ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { ProviderFailure } from "../providers/provider.js";
import { errorInfo } from "./code-names.js";
import { matches, UNMAPPED, type MappingRow, type MappingTable } from "./table.js";
import { transportTable } from "./transport.js";

/** The row for an answer: the provider's own table first, then the answers common to all upstreams. */
export function rowFor(failure: ProviderFailure, table: MappingTable): MappingRow {
  return table.find((r) => matches(r, failure.answer)) ?? transportTable.find((r) => matches(r, failure.answer)) ?? UNMAPPED;
}

export function isRetryable(failure: ProviderFailure, table: MappingTable): boolean {
  return rowFor(failure, table).retryable === true;
}

/** The one place where an upstream answer becomes a gRPC status. */
export function mapFailure(failure: ProviderFailure, table: MappingTable): ConnectError {
  const row = rowFor(failure, table);
  const { answer } = failure;
  const metadata: Record<string, string> = { upstream_message: answer.message };
  if (answer.code !== undefined) metadata["upstream_code"] = answer.code;
  if (answer.status !== undefined) metadata["upstream_status"] = String(answer.status);
  const details = [errorInfo(row.reason, failure.provider, metadata)];
  const retry = row.retryable ? [{ desc: RetryInfoSchema, value: { retryDelay: { seconds: 1n } } }] : [];
  return new ConnectError(`${failure.provider}: ${answer.message}`, row.code, undefined, [...details, ...retry]);
}
