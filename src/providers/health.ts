import type { FieldViolation } from "../status/failure.js";
import type { MappingTable } from "../status/table.js";
import type { Authorization, AuthorizeCall, ListUserSessionsCall, Provider, SessionListing, TerminateCall, TerminateResult } from "./provider.js";

export type BreakerState = "closed" | "open" | "half_open" | "isolated";

/** What this service has seen of a provider, for ListProviders. */
export interface ProviderHealth {
  lastSuccess?: Date;
  lastError?: { at: Date; code: string };
  breaker: BreakerState;
}

/**
 * A configured provider and what its calls have shown (registry.ts puts every provider behind
 * one). This one notes when a call last succeeded, and has no breaker: enough for the embedded
 * store, whose failures are answers about sessions, not about its health. ResilientProvider,
 * around every upstream, builds on it and adds the last failure and its breaker's state.
 */
export class WatchedProvider implements Provider {
  readonly name: string;
  readonly type: string;
  readonly table: MappingTable;
  readonly verifiesTokens: boolean;
  readonly endsAllOfUser?: boolean;
  readonly endsOnlyAllOfUser?: boolean;
  readonly cannotList?: boolean;
  readonly authorize?: (call: AuthorizeCall) => Promise<Authorization>;
  /** When a call last succeeded (ms since the epoch). */
  protected lastSuccess: number | undefined;
  protected lastError: { at: number; code: string } | undefined;

  constructor(protected readonly inner: Provider) {
    this.name = inner.name;
    this.type = inner.type;
    this.table = inner.table;
    this.verifiesTokens = inner.verifiesTokens;
    if (inner.endsAllOfUser) this.endsAllOfUser = true;
    if (inner.endsOnlyAllOfUser) this.endsOnlyAllOfUser = true;
    if (inner.cannotList) this.cannotList = true;
    if (inner.authorize) this.authorize = inner.authorize.bind(inner);
  }

  checkOptions(options: Record<string, string>): FieldViolation[] {
    return this.inner.checkOptions(options);
  }

  terminate(call: TerminateCall): Promise<TerminateResult> {
    return this.inner.terminate(call).then(this.succeeded);
  }

  listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    return this.inner.listUserSessions(call).then(this.succeeded);
  }

  health(): ProviderHealth {
    return {
      ...(this.lastSuccess !== undefined && { lastSuccess: new Date(this.lastSuccess) }),
      ...(this.lastError && { lastError: { at: new Date(this.lastError.at), code: this.lastError.code } }),
      breaker: this.breakerState(),
    };
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }

  protected breakerState(): BreakerState {
    return "closed";
  }

  /** Passes a call's result on, noting the time. */
  protected readonly succeeded = <T>(result: T): T => {
    this.lastSuccess = Date.now();
    return result;
  };
}
