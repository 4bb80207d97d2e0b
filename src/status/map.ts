import { ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { ProviderFailure } from "../providers/provider.js";
import { errorInfo } from "./errors.js";
import { localTable } from "./local.js";
import { matches, UNMAPPED, type MappingRow, type MappingTable } from "./table.js";
import { transportTable } from "./transport.js";

/** The mapping table of each provider type. */
export const TABLES: Readonly<Record<string, MappingTable>> = {
  local: localTable,
};

/** The row for an answer: the provider's own table first, then the answers common to all upstreams. */
export function rowFor(failure: ProviderFailure): MappingRow {
  const table = TABLES[failure.providerType] ?? [];
  return table.find((r) => matches(r, failure.answer)) ?? transportTable.find((r) => matches(r, failure.answer)) ?? UNMAPPED;
}

export function isRetryable(failure: ProviderFailure): boolean {
  return rowFor(failure).retryable === true;
}

/** The one place where an upstream answer becomes a gRPC status. */
export function mapFailure(failure: ProviderFailure): ConnectError {
  const row = rowFor(failure);
  const { answer } = failure;
  const metadata: Record<string, string> = { upstream_message: answer.message };
  if (answer.code !== undefined) metadata["upstream_code"] = answer.code;
  if (answer.status !== undefined) metadata["upstream_status"] = String(answer.status);
  const details = [errorInfo(row.reason, failure.provider, metadata)];
  const retry = row.retryable ? [{ desc: RetryInfoSchema, value: { retryDelay: { seconds: 1n } } }] : [];
  return new ConnectError(`${failure.provider}: ${answer.message}`, row.code, undefined, [...details, ...retry]);
}
