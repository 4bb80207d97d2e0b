import { Code } from "@connectrpc/connect";
import type { UpstreamAnswer } from "./answer.js";

/** One value or an inclusive range. */
export type Range = number | readonly [number, number];

/** What a row matches in an upstream answer; every given condition must hold. */
export interface Match {
  /** The answer's HTTP status. */
  httpStatus?: Range;
  /** The answer's gRPC status code. */
  grpcCode?: Range;
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
  const { httpStatus, grpcCode, code, message } = row.when;
  if (httpStatus !== undefined && !inRange(a.httpStatus, httpStatus)) return false;
  if (grpcCode !== undefined && !inRange(a.grpcCode, grpcCode)) return false;
  if (code !== undefined && a.code !== code) return false;
  if (message !== undefined && !message.test(a.message)) return false;
  return true;
}

function inRange(value: number | undefined, range: Range): boolean {
  if (value === undefined) return false;
  const [lo, hi] = typeof range === "number" ? [range, range] : range;
  return value >= lo && value <= hi;
}

/** The row for answers no table knows: the upstream said something unexpected. */
export const UNMAPPED: MappingRow = {
  when: {},
  answer: "any other answer",
  code: Code.Unknown,
  reason: "UPSTREAM_UNEXPECTED_ANSWER",
};
