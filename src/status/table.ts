import { Code } from "@connectrpc/connect";
import type { UpstreamAnswer } from "../providers/provider.js";

/** What a row matches in an upstream answer; every given condition must hold. */
export interface Match {
  /** HTTP or gRPC status: one value or an inclusive range. */
  status?: number | readonly [number, number];
  /** The upstream's own error code or id. */
  code?: string;
  /** A pattern of the upstream's message (answers are told by their body as well as their status). */
  message?: RegExp;
}

/** One row of a provider's mapping table: an upstream answer and the status the caller gets. */
export interface MappingRow {
  when: Match;
  /** The upstream answer in words, for the README's table. */
  answer: string;
  code: Code;
  /** google.rpc.ErrorInfo reason. */
  reason: string;
  /** Whether the same request may succeed later: retried, and answered with google.rpc.RetryInfo. */
  retryable?: boolean;
}

export type MappingTable = readonly MappingRow[];

export function matches(row: MappingRow, a: UpstreamAnswer): boolean {
  const { status, code, message } = row.when;
  if (status !== undefined) {
    if (a.status === undefined) return false;
    const [lo, hi] = typeof status === "number" ? [status, status] : status;
    if (a.status < lo || a.status > hi) return false;
  }
  if (code !== undefined && a.code !== code) return false;
  if (message !== undefined && !message.test(a.message)) return false;
  return true;
}

/** The row for answers no table knows: the upstream said something unexpected. */
export const UNMAPPED: MappingRow = {
  when: {},
  answer: "any other answer",
  code: Code.Unknown,
  reason: "UPSTREAM_UNEXPECTED_ANSWER",
};
