import { randomUUID } from "node:crypto";
import { ConnectError, type Code } from "@connectrpc/connect";
import { expect } from "vitest";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ALL_SESSIONS, type TerminateCall } from "../../src/providers/provider.js";
import { classify, ProviderFailure } from "../../src/status/provider-failure.js";
import type { MappingRow, MappingTable } from "../../src/status/table.js";
import type { FakeAnswer } from "../fakes/http-fake.js";
import { expectMapped, type MappedFailure } from "./errors.js";

/** The upstream answer, read back from ErrorInfo metadata. */
export function answerOfMetadata(metadata: Record<string, string>) {
  return {
    message: metadata["upstream_message"]!,
    ...(metadata["upstream_code"] !== undefined && { code: metadata["upstream_code"] }),
    ...(metadata["upstream_status"] !== undefined && { httpStatus: Number(metadata["upstream_status"]) }),
  };
}

/** A provider's TerminateCall made directly, as sign-out-everywhere makes it for a user-wide end when `allOfUser`. */
export function directCall(sessionId: string, userId = "", allOfUser = false): TerminateCall {
  return {
    caller: { name: "test", permissions: new Set(["session.delete"]) } as never,
    sessionId: allOfUser ? ALL_SESSIONS : sessionId,
    userId,
    reason: "",
    requestId: randomUUID(),
    options: {},
    signal: new AbortController().signal,
    ...(allOfUser && { allOfUser: true }),
  };
}

/** Notes which rows of a table the cases drove, through the service or the provider directly. */
export class RowsHit {
  private readonly hit = new Set<MappingRow>();

  constructor(private readonly table: MappingTable) {}

  /** Checks the service's failure of `p` against `want` and notes the row. */
  service(err: ConnectError, provider: string, want: MappedFailure & { metadata: Record<string, string> }): void {
    expectMapped(err, provider, want);
    this.hit.add(classify(answerOfMetadata(want.metadata), this.table));
  }

  /** Checks a provider's own failure (a ProviderFailure) and notes the row. */
  direct(err: unknown, want: { reason: string; metadata: Record<string, string> }): ProviderFailure {
    expect(err).toBeInstanceOf(ProviderFailure);
    const f = err as ProviderFailure;
    expect(f.row.reason).toBe(want.reason);
    expect(f.metadata).toEqual(want.metadata);
    this.hit.add(f.row);
    return f;
  }

  /** The rows no case drove, by their words. */
  missing(): string[] {
    return this.table.filter((r) => !this.hit.has(r)).map((r) => r.answer);
  }
}

/** RetryInfo's delay in ms. */
export function retryDelayMs(err: ConnectError): number {
  const d = err.findDetails(RetryInfoSchema)[0]!.retryDelay!;
  return Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6);
}

/** The failure of a promise that must fail, as it was thrown. */
export async function thrown(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a failure");
    },
    (e: unknown) => e,
  );
}

/** One row's case, driven through the service's Terminate. */
export interface RowCase {
  name: string;
  /** The configured provider; default the file's main one. */
  provider?: string;
  sessionId?: string;
  /** Programs the fake's answers before the call. */
  program?: () => void;
  code: Code;
  reason: string;
  metadata: Record<string, string>;
  retryable?: boolean;
  /** API requests the fake must have seen (token requests aside); default 1. */
  api?: number;
}

/** A JSON answer of a fake, with headers. */
export function jsonAnswer(status: number, body: unknown, headers?: Record<string, string>): FakeAnswer {
  return { status, body, ...(headers && { headers }) };
}
