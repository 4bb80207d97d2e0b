import { ConnectError, type Code } from "@connectrpc/connect";
import { expect } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema, type ErrorInfo } from "../../gen/google/rpc/error_details_pb.js";

/** The ConnectError of a call that must fail. */
export async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

/** A received error's details as their type and bytes, for byte-for-byte comparisons of answers. */
export function detailBytes(err: ConnectError): string[][] {
  return err.details.map((d) => ("type" in d ? [d.type, Buffer.from(d.value).toString("hex")] : ["(not received)"]));
}

/** failure(), keeping every text the errors showed, to search them for secrets at the end of a file. */
export function keepErrorTexts(): { failure: (p: Promise<unknown>) => Promise<ConnectError>; texts: string[] } {
  const texts: string[] = [];
  return {
    texts,
    async failure(p) {
      const err = await failure(p);
      texts.push(err.message, ...err.findDetails(ErrorInfoSchema).flatMap((i) => [i.reason, i.domain, ...Object.values(i.metadata)]));
      return err;
    },
  };
}

/** How a provider's failure must reach the caller: the gRPC code, one ErrorInfo, and RetryInfo exactly when retryable. */
export interface MappedFailure {
  code: Code;
  reason: string;
  metadata: Record<string, unknown>;
  retryable?: boolean | undefined;
}

/** Checks `err` against `want`, with `provider` as the ErrorInfo's domain; answers the ErrorInfo. */
export function expectMapped(err: ConnectError, provider: string, want: MappedFailure): ErrorInfo {
  expect(err.code).toBe(want.code);
  const infos = err.findDetails(ErrorInfoSchema);
  expect(infos).toHaveLength(1);
  const info = infos[0]!;
  expect(info.reason).toBe(want.reason);
  expect(info.domain).toBe(provider);
  expect(info.metadata).toEqual(want.metadata);
  expect(err.findDetails(RetryInfoSchema)).toHaveLength(want.retryable ? 1 : 0);
  return info;
}
