import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";
import { RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { ALL_SESSIONS, type Provider, type TerminateCall } from "../../src/providers/provider.js";
import { buildProviders } from "../../src/providers/registry.js";
import { codeName } from "../../src/status/code-names.js";
import { classify, ProviderFailure } from "../../src/status/provider-failure.js";
import type { MappingRow, MappingTable } from "../../src/status/table.js";
import { SqliteStores } from "../../src/store/sqlite.js";
import type { FakeAnswer } from "../fakes/http-fake.js";
import { expectMapped, type MappedFailure } from "./errors.js";

/** The upstream answer, read back from ErrorInfo metadata. */
function answerOf(metadata: Record<string, unknown>) {
  const m = metadata as Record<string, string | undefined>;
  return {
    message: m["upstream_message"]!,
    ...(m["upstream_code"] !== undefined && { code: m["upstream_code"] }),
    ...(m["upstream_status"] !== undefined && { httpStatus: Number(m["upstream_status"]) }),
  };
}

/** One case of a provider's table driven through the service's Terminate. */
export interface RowCase extends MappedFailure {
  name: string;
  /** The configured provider to call; default the file's main one. */
  provider?: string;
  sessionId?: string;
  /** Programs the fake's answers before the call. */
  program?: () => void;
  metadata: Record<string, string>;
  /** Requests the fake must have seen; default 1. */
  sent?: number;
}

/** Notes which rows of a provider's table the cases drove, for "a case for each row". */
export class RowTracker {
  private readonly hit = new Set<MappingRow>();

  constructor(private readonly table: MappingTable) {}

  /** Checks a caller's error against `want` and notes the row its metadata maps to. */
  expectCall(err: ConnectError, provider: string, want: MappedFailure): void {
    expectMapped(err, provider, want);
    this.hit.add(classify(answerOf(want.metadata), this.table));
  }

  /** Checks a ProviderFailure (a call made to the provider itself) against `want` and notes its row. */
  expectFailure(err: unknown, provider: string, want: MappedFailure): void {
    expect(err).toBeInstanceOf(ProviderFailure);
    const f = err as ProviderFailure;
    expect([f.code, f.reason, f.domain, f.retryable]).toEqual([codeName(want.code), want.reason, provider, want.retryable === true]);
    expect(f.metadata).toEqual(want.metadata);
    this.hit.add(f.row);
  }

  /** The rows no case drove, in words. */
  missed(): string[] {
    return this.table.filter((r) => !this.hit.has(r)).map((r) => r.answer);
  }
}

/** One provider built from a `providers:` entry as the service builds it (behind its resilience), over a store of its own. */
export function buildOne(entry: Record<string, unknown>): { provider: Provider; close: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), "provider-"));
  const store = SqliteStores.open(dir);
  const provider = buildProviders(parseConfig({ providers: [entry] }).providers, store.sessions, () => {})[0]!;
  return {
    provider,
    async close() {
      await provider.close?.();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sign-out-everywhere's one work item for a provider that ends all of a user's sessions at once. */
export function allOfUserCall(userId: string): TerminateCall {
  return {
    caller: { name: "test", permissions: new Set(["session.delete"]) },
    sessionId: ALL_SESSIONS,
    userId,
    reason: "test",
    requestId: crypto.randomUUID(),
    options: {},
    signal: new AbortController().signal,
    allOfUser: true,
  };
}

/** The rejection of `p`, which must fail. */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e,
  );
}

/** RetryInfo's delay in ms (one RetryInfo must be there). */
export function retryDelayMs(err: ConnectError): number {
  const d = err.findDetails(RetryInfoSchema)[0]!.retryDelay!;
  return Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6);
}

/** A fake's JSON answer, with headers. */
export function jsonAnswer(status: number, body: unknown, headers?: Record<string, string>): FakeAnswer {
  return { status, body, ...(headers && { headers }) };
}
