import { ConnectError } from "@connectrpc/connect";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { ProviderFailure } from "../providers/provider.js";
import { errorInfo } from "./errors.js";
import { localTable } from "./local.js";
import { UNMAPPED, type MappingRow, type MappingTable } from "./table.js";

/** The mapping table of each provider type. */
export const TABLES: Readonly<Record<string, MappingTable>> = {
  local: localTable,
};

/** The one place where an upstream answer becomes a gRPC status. */
export function mapFailure(failure: ProviderFailure): ConnectError {
  const row = findRow(TABLES[failure.providerType] ?? [], failure.answer.code);
  const { answer } = failure;
  const metadata: Record<string, string> = { upstream_code: answer.code, upstream_message: answer.message };
  if (answer.status !== undefined) metadata["upstream_status"] = String(answer.status);
  const details = [errorInfo(row.reason, failure.provider, metadata)];
  const retry = row.retryable ? [{ desc: RetryInfoSchema, value: { retryDelay: { seconds: 1n } } }] : [];
  return new ConnectError(row.message ?? answer.message, row.code, undefined, [...details, ...retry]);
}

function findRow(table: MappingTable, upstream: string): MappingRow {
  return table.find((r) => r.upstream === upstream) ?? UNMAPPED;
}
