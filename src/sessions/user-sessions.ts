import type { Logger } from "pino";
import { requirePermission, type Principal } from "../auth/principal.js";
import { ALL_SESSIONS, type Provider, type UpstreamSession } from "../providers/provider.js";
import { Failure, invalidArgument, type FieldViolation } from "../status/failure.js";
import type { CallContext } from "./end-session.js";
import type { Places } from "./limiter.js";
import { answerMarginMs, checkProviderChoice, providerUsers, type ProviderUser, type UserProvidersInput } from "./user-providers.js";
import type { UserLinks } from "./user-links.js";
import { checkLength } from "./validate.js";

/** One provider's part of a user's sessions: what it listed (the first maxPerProvider, truncated when it had more or stopped short of the last), why it could not, or that it cannot list. */
export type ProviderSessions = ProviderUser & { type: string } & ({ sessions: UpstreamSession[]; truncated: boolean } | { failure: Failure } | { cannotList: true });

export interface UserSessionsSettings {
  /** Sessions at most in one provider's part; past it, the part is cut and marked truncated. */
  maxPerProvider: number;
}

/** How long each provider may take when the caller set no deadline. */
const NO_DEADLINE_WAIT_MS = 10_000;

/**
 * A user's sessions wherever they live: the embedded store and every provider that can list them,
 * asked at once. Each provider's part is answered or failed on its own; one that has not answered
 * when the caller's deadline (less a margin to write the answer) comes is cut off and reported as
 * DEADLINE_EXCEEDED, and the others are answered. A listing takes its turn in the provider's
 * limiter, which the fan-out's calls there share; one still waiting at the cut-off is never made.
 */
export class UserSessions {
  private readonly byName: ReadonlyMap<string, Provider>;
  private readonly names: readonly string[];

  constructor(
    providers: readonly Provider[],
    private readonly links: Pick<UserLinks, "providerUserIds">,
    /** Where a provider's listing waits for its turn (main.ts: ListingLimiters). */
    private readonly limiters: { for(provider: string): Places },
    private readonly settings: UserSessionsSettings,
    private readonly log: Logger,
  ) {
    this.byName = new Map(providers.map((p) => [p.name, p]));
    this.names = providers.map((p) => p.name);
  }

  async list(caller: Principal, input: UserProvidersInput, call: Pick<CallContext, "signal" | "deadline">): Promise<ProviderSessions[]> {
    requirePermission(caller, "session.read");
    const violations: FieldViolation[] = [];
    checkLength(violations, "user_id", input.userId, { required: true });
    checkProviderChoice(violations, input, this.names);
    if (violations.length > 0) throw invalidArgument(violations);
    const asked = await providerUsers(input, this.names, this.links);
    const timeoutMs = call.deadline === undefined ? NO_DEADLINE_WAIT_MS : call.deadline - Date.now();
    const until = Date.now() + Math.max(0, timeoutMs - answerMarginMs(timeoutMs));
    return Promise.all(asked.map((a) => this.part(a, this.byName.get(a.provider)!, call.signal, until, call.deadline !== undefined)));
  }

  /** One provider's part; never rejects. */
  private async part(asked: ProviderUser, provider: Provider, signal: AbortSignal, until: number, callerDeadline: boolean): Promise<ProviderSessions> {
    const base = { ...asked, type: provider.type };
    if (provider.cannotList) return { ...base, cannotList: true };
    const cutOff = new AbortController();
    const stop = AbortSignal.any([signal, cutOff.signal]);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(lateFailure(provider.name, callerDeadline));
        cutOff.abort();
      }, Math.max(0, until - Date.now()));
    });
    const max = this.settings.maxPerProvider;
    try {
      const { sessions, complete } = await Promise.race([
        // Given the caller's deadline less the margin, the provider stops by itself (and says why); without one, its own timeouts apply.
        // One more than the part holds tells whether there were more.
        this.limiters.for(provider.name).run(() => provider.listUserSessions({ userId: asked.providerUserId, signal: stop, limit: max + 1, ...(callerDeadline && { deadline: until }) }), stop),
        late,
      ]);
      if (sessions.some((s) => s.sessionId === ALL_SESSIONS)) return { ...base, cannotList: true };
      // A provider that stopped at its own cap (or page limit) before the user's last session says so: the part is truncated then too.
      return { ...base, sessions: sessions.slice(0, max), truncated: !complete || sessions.length > max };
    } catch (err) {
      if (err instanceof Failure) return { ...base, failure: err };
      // The caller went away while the listing waited for its turn: no answer is read.
      if (signal.aborted) return { ...base, failure: new Failure("CANCELED", "CALL_CANCELED", `${provider.name}: the caller cancelled the call`, { domain: provider.name }) };
      // A fault of ours or the provider's code, not an answer of the upstream: logged, and reported without its details.
      this.log.error({ err, provider: provider.name }, "listing a user's sessions failed");
      return { ...base, failure: new Failure("INTERNAL", "LIST_FAILED", `${provider.name}: listing the user's sessions failed`, { domain: provider.name }) };
    } finally {
      clearTimeout(timer);
      cutOff.abort();
    }
  }
}

/** The part of a provider that had not answered in time: the caller's deadline (less the margin), or our own wait without one. */
function lateFailure(provider: string, callerDeadline: boolean): Failure {
  if (callerDeadline) return new Failure("DEADLINE_EXCEEDED", "CALLER_DEADLINE_EXCEEDED", `${provider}: no answer before the caller's deadline`, { domain: provider });
  return new Failure("DEADLINE_EXCEEDED", "UPSTREAM_TIMEOUT", `${provider}: no answer within ${NO_DEADLINE_WAIT_MS} ms, the wait of a call without a deadline`, { domain: provider, retryable: true });
}
