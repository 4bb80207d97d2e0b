import { randomUUID } from "node:crypto";
import type { GuessLimits } from "../auth/guess-limits.js";
import { hasPermission, type Principal } from "../auth/principal.js";
import type { StepUp } from "../auth/step-up.js";
import type { Provider } from "../providers/provider.js";
import { ALL_SESSIONS } from "../store/operation-types.js";
import { ProviderFailure } from "../status/provider-failure.js";
import { Failure, invalidArgument, permissionDenied, type CodeName, type FieldViolation } from "../status/failure.js";
import type { InitiatingEntity } from "../store/outbox-types.js";
import type { AuditStore, ChangeDetails } from "../store/store.js";
import { auditTemplate, scopeOf } from "./audit-trail.js";
import { initiatingEntity } from "./initiating-entity.js";
import { guardSessionToken } from "./session-token-guard.js";
import type { TerminationEvents, TerminationFacts } from "./termination-events.js";
import { checkLength, checkRequestId } from "./validate.js";

export interface EndSessionInput {
  sessionId: string;
  sessionToken?: string | undefined;
  provider?: string;
  requestId?: string;
  userId?: string;
  reason?: string;
  options?: Record<string, string>;
  /** End every session of userId in one call (sign-out-everywhere's ALL_SESSIONS item for a provider with endsAllOfUser). */
  allOfUser?: boolean;
}

/** What the edge knows of the call: cancellation, deadline, the second factor. */
export interface CallContext {
  signal: AbortSignal;
  /** When the caller stops waiting (ms since the epoch). */
  deadline?: number;
  /** The caller's `x-2fa-code` header. */
  twoFactorCode?: string;
  /** The sign-out-everywhere operation this call is part of. */
  operationId?: string;
  /** Who started the call, when more than the caller's permissions tell (fan-out work: its operation's; an inbound standard: `policy`). */
  initiatingEntity?: InitiatingEntity;
}

/** A session ended, now or before. */
export interface SessionEndResult {
  provider: string;
  details: ChangeDetails;
  alreadyTerminated: boolean;
  /** True when every session of the user was ended at once (a user-wide provider). */
  allOfUser?: boolean;
  /** How many sessions a user-wide end found open, when the provider could list them. */
  sessionsEnded?: number;
}

/** ErrorInfo reasons of calls ended by their caller (cancel, deadline) rather than answered. */
const CALL_CUT_SHORT: ReadonlySet<string> = new Set(["CALL_CANCELED", "CALLER_DEADLINE_EXCEEDED"]);

/** ErrorInfo reasons by which an upstream tells whether a session exists. */
const SESSION_ANSWERS: ReadonlySet<string> = new Set(["SESSION_NOT_FOUND", "SESSION_TOKEN_INVALID"]);

/** The one answer to a token an upstream did not accept, whether the session exists or not. */
function tokenRefused(provider: string): Failure {
  return permissionDenied(`not allowed to end this session through provider "${provider}": present its current token, or hold session.delete`);
}

/**
 * Ending one session: SessionControl.Terminate, Zitadel's DeleteSession, REST and the work of
 * sign-out-everywhere. Validates, authorizes, replays a request id the caller used before, calls
 * the provider, and publishes the outcome (the audit trail and metrics subscribe).
 */
export class EndSession {
  private readonly byName: ReadonlyMap<string, Provider>;

  constructor(
    providers: readonly Provider[],
    private readonly defaultProvider: string,
    private readonly audit: Pick<AuditStore, "findEventByRequestId" | "findTermination">,
    private readonly events: TerminationEvents,
    /** Limits on wrong session tokens (src/auth/guess-limits.ts); none in tests of the action alone. */
    private readonly guessLimits?: GuessLimits,
    /** Step-up 2FA: asked of a Terminate that signs a user out everywhere (a user-wide-only provider), as of TerminateUser. */
    private readonly stepUp?: Pick<StepUp, "verify">,
  ) {
    this.byName = new Map(providers.map((p) => [p.name, p]));
  }

  async run(caller: Principal, input: EndSessionInput, call: CallContext): Promise<SessionEndResult> {
    const provider = this.validate(input);
    const mayDelete = hasPermission(caller, "session.delete");
    // Upstreams do not know our callers: only a token they check themselves stands in for session.delete.
    if (provider.type !== "local" && !mayDelete && !(input.sessionToken && provider.verifiesTokens)) {
      throw permissionDenied(`ending sessions through provider "${provider.name}" needs session.delete`);
    }
    // Ending every session of a user is sign-out-everywhere, whichever call asks for it (background work carries its operation's check).
    if (provider.endsOnlyAllOfUser && call.operationId === undefined) await this.stepUp?.verify(caller, call.twoFactorCode);
    const sessionToken = input.sessionToken ? { sessionToken: input.sessionToken } : {};
    const facts: TerminationFacts = {
      time: new Date(),
      principal: caller.name,
      provider: provider.name,
      sessionId: input.sessionId,
      userId: input.userId ?? "",
      requestId: input.requestId || randomUUID(),
      reason: input.reason ?? "",
      ...(call.operationId && { operationId: call.operationId }),
    };
    try {
      // Guess limits: a token-bearing call for a session over its limit stops here, before its token is checked (session-token-guard.ts).
      return await guardSessionToken(this.guessLimits, provider, input.sessionId, input.sessionToken, caller.name, async () => {
        // Authorization first: nothing is answered from state, replay included, to a caller that may not end the session.
        const authorization = (await provider.authorize?.({ caller, sessionId: input.sessionId, ...sessionToken })) ?? {};
        facts.userId ||= authorization.sessionUserId ?? "";
        if (authorization.refusal) throw new ProviderFailure(provider.name, authorization.refusal, provider.table);
        // The user an end is announced for: the session's, as the provider knows it; a caller's word only with session.delete.
        const announcedUser = authorization.sessionUserId || (mayDelete ? (input.userId ?? "") : "");
        facts.announce = { initiatingEntity: initiatingEntity(caller, announcedUser, input.sessionToken, call.initiatingEntity), userId: announcedUser };
        // A caller let through only on the strength of its token, to a provider with no authorize step, has
        // had nothing checked yet: the upstream checks the token, so its answer decides, never a replay.
        const unchecked = !provider.authorize && !mayDelete && !!input.sessionToken;
        const replay = input.requestId && !unchecked ? await this.replay(scopeOf(caller.name, call.operationId), input.requestId, provider.name, input.sessionId) : undefined;
        if (replay) return replay;
        const result = await provider.terminate({
          caller,
          sessionId: input.sessionId,
          ...sessionToken,
          userId: input.userId ?? "",
          reason: facts.reason,
          requestId: facts.requestId,
          options: input.options ?? {},
          ...(call.twoFactorCode ? { twoFactorCode: call.twoFactorCode } : {}),
          signal: call.signal,
          ...(call.deadline !== undefined ? { deadline: call.deadline } : {}),
          // The embedded store writes the audit row in the same commit as the end.
          audit: auditTemplate(facts),
          ...(input.allOfUser && { allOfUser: true }),
        });
        const announce = { ...facts.announce, userId: result.userId || facts.announce.userId, ...(result.allOfUser && { allOfUser: true }) };
        await this.events.publishEnded({ ...facts, userId: facts.userId || (result.userId ?? ""), announce, alreadyEnded: result.alreadyTerminated, details: result.details, recorded: result.recorded === true });
        return {
          provider: provider.name,
          details: result.details,
          alreadyTerminated: result.alreadyTerminated,
          ...(result.allOfUser && { allOfUser: true }),
          ...(result.sessionsEnded !== undefined && { sessionsEnded: result.sessionsEnded }),
        };
      });
    } catch (err) {
      if (!(err instanceof ProviderFailure)) throw err;
      return this.failed(err, provider, caller, facts);
    }
  }

  /**
   * Publishes a provider's failure and throws the answer; success when the upstream no longer knows a
   * session this service ended. Only a caller holding session.delete learns whether a session
   * exists: to one let through on the strength of its token, an upstream's "wrong token" and "no
   * such session" (ended here or never there) are one refusal, as on the embedded store.
   */
  private async failed(failure: ProviderFailure, provider: Provider, caller: Principal, facts: TerminationFacts): Promise<SessionEndResult> {
    const mayKnow = hasPermission(caller, "session.delete");
    // ALL_SESSIONS names no one session: an earlier user-wide end (of any user) says nothing about this one.
    const ended = mayKnow && failure.reason === "SESSION_NOT_FOUND" && facts.sessionId !== ALL_SESSIONS && (await this.audit.findTermination(provider.name, facts.sessionId));
    if (ended && ended.details) {
      await this.events.publishEnded({ ...facts, alreadyEnded: true, details: ended.details, recorded: false });
      return { provider: provider.name, details: ended.details, alreadyTerminated: true };
    }
    const answered = !mayKnow && SESSION_ANSWERS.has(failure.reason) ? tokenRefused(provider.name) : failure;
    await this.events.publishFailed({ ...facts, failure, answered });
    throw answered;
  }

  private validate(input: EndSessionInput): Provider {
    const violations: FieldViolation[] = [];
    checkLength(violations, "session_id", input.sessionId, { required: true });
    if (input.sessionId === ALL_SESSIONS && !input.allOfUser) violations.push({ field: "session_id", description: `"${ALL_SESSIONS}" is reserved: it stands for all of a user's sessions (use TerminateUser)` });
    checkLength(violations, "session_token", input.sessionToken ?? "", { required: false, max: 1000 });
    checkLength(violations, "user_id", input.userId ?? "", { required: false });
    checkLength(violations, "reason", input.reason ?? "", { required: false, max: 1000 });
    checkRequestId(violations, input.requestId);
    const provider = this.byName.get(input.provider || this.defaultProvider);
    if (!provider) {
      const names = [...this.byName.keys()].join(", ");
      violations.push({ field: "provider", description: `unknown provider "${input.provider}"; configured: ${names}` });
    } else violations.push(...provider.checkOptions(input.options ?? {}));
    if (violations.length > 0 || !provider) throw invalidArgument(violations);
    return provider;
  }

  /** The recorded answer to a request id this scope used before; undefined when the call should go ahead. */
  private async replay(scope: string, requestId: string, provider: string, sessionId: string): Promise<SessionEndResult | undefined> {
    const prior = await this.audit.findEventByRequestId(scope, requestId);
    if (!prior) return undefined;
    if (prior.provider !== provider || prior.sessionId !== sessionId) {
      throw invalidArgument([{ field: "request_id", description: "was already used for another session or provider" }]);
    }
    if (prior.code === "OK" && prior.details) return { provider: prior.provider, details: prior.details, alreadyTerminated: prior.alreadyTerminated };
    // A failure that a retry can mend is tried again, with the same request id; so is a call that was
    // cancelled or ran out of its caller's deadline, which says nothing about the session.
    if (!prior.error || prior.error.retryable || CALL_CUT_SHORT.has(prior.error.reason)) return undefined;
    throw new Failure(prior.code as CodeName, prior.error.reason, prior.error.message, { domain: prior.provider, metadata: prior.error.metadata });
  }
}
