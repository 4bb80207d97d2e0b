import { codeName } from "./code-names.js";
import type { MappingTable } from "./table.js";
import { transportTable } from "./transport.js";

/** The README's status table, rendered from the mapping tables themselves (a test keeps them equal). */
export function renderStatusTable(tables: readonly { type: string; table: MappingTable }[]): string {
  const rows = [...tables.filter((t) => t.table.length > 0), { type: "any upstream", table: transportTable }].flatMap(({ type, table }) =>
    table.map((r) => `| ${type} | ${escape(r.answer)} | ${codeName(r.code)} | \`${r.reason}\` | ${r.retryable ? "yes" : "no"} |`),
  );
  return ["| provider | upstream answer | gRPC code | ErrorInfo reason | retried |", "|---|---|---|---|---|", ...rows].join("\n");
}

function escape(text: string): string {
  return text.replace(/\|/g, "\\|");
}
