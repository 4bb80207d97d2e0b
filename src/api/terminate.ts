import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { type DetailsSchema, TerminateResponseSchema, type TerminateResponse } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { GuessLimits } from "../auth/guess-limits.js";
import { hasPermission, type Principal } from "../auth/principal.js";
import { ProviderFailure, type ChangeDetails, type Provider } from "../providers/provider.js";
import { requestScope, type AuditStore, type AuditTemplate } from "../store/store.js";
import { codeFromName, codeName, errorInfo, invalidArgument, serviceError, type FieldViolation } from "../status/errors.js";
import { mapFailure, rowFor } from "../status/map.js";
import { guardSessionToken } from "./session-token-guard.js";
import { checkLength, checkRequestId } from "./validate.js";

export interface TerminateInput {
  sessionId: string;
  sessionToken?: string | undefined;
  provider?: string;
  requestId?: string;
  userId?: string;
  reason?: string;
  options?: Record<string, string>;
}

/** What the transport knows of the call: cancellation, deadline, forwarded headers. */
export interface CallContext {
  signal: AbortSignal;
  /** When the caller stops waiting (ms since the epoch). */
  deadline?: number;
  /** The caller's `x-2fa-code` header. */
  twoFactorCode?: string;
  /** The sign-out-everywhere operation this call is part of. */
  operationId?: string;
}

/** ErrorInfo reasons of calls ended by their caller (cancel, deadline) rather than answered. */
const CALL_CUT_SHORT: ReadonlySet<string> = new Set(["CALL_CANCELED", "CALLER_DEADLINE_EXCEEDED"]);

/** ErrorInfo reasons by which an upstream tells whether a session exists. */
const SESSION_ANSWERS: ReadonlySet<string> = new Set(["SESSION_NOT_FOUND", "SESSION_TOKEN_INVALID"]);

/** The one answer to a token an upstream did not accept, whether the session exists or not. */
function tokenRefused(provider: string): ConnectError {
  return serviceError(Code.PermissionDenied, "PERMISSION_DENIED", `not allowed to end this session through provider "${provider}": present its current token, or hold session.delete`);
}

/** Codes of refusals, which are never replayed (the store migrations list them too, for older events). */
const REFUSALS: ReadonlySet<string> = new Set(["UNAUTHENTICATED", "PERMISSION_DENIED", "INVALID_ARGUMENT"]);


/**
 * Ending one session: shared by SessionControl.Terminate, Zitadel's DeleteSession and REST.
 * Validates, authorizes, replays a request id the caller used before, calls the provider,
 * maps, and records every outcome in the audit trail.
 */
export class TerminateAction {
  private readonly byName: ReadonlyMap<string, Provider>;

  constructor(
    readonly providers: readonly Provider[],
    readonly defaultProvider: string,
    private readonly audit: AuditStore,
    private readonly observe: (provider: string, code: string) => void = () => {},
    /** Limits on wrong session tokens (src/auth/guess-limits.ts); none in tests of the action alone. */
    private readonly guessLimits?: GuessLimits,
  ) {
    this.byName = new Map(providers.map((p) => [p.name, p]));
  }

  async run(caller: Principal, input: TerminateInput, call: CallContext): Promise<TerminateResponse> {
    const provider = this.validate(input);
    const requestId = input.requestId || randomUUID();
    // Upstreams do not know our callers: only a token they check themselves stands in for session.delete.
    if (provider.type !== "local" && !hasPermission(caller, "session.delete") && !(input.sessionToken && provider.verifiesTokens)) {
      throw serviceError(Code.PermissionDenied, "PERMISSION_DENIED", `ending sessions through provider "${provider.name}" needs session.delete`);
    }
    const sessionToken = input.sessionToken ? { sessionToken: input.sessionToken } : {};
    // Background work's ids belong to its operation, a caller's to the caller.
    const scope = call.operationId ? requestScope.operation(call.operationId) : requestScope.principal(caller.name);
    const event: AuditTemplate = {
      time: new Date(),
      principal: caller.name,
      provider: provider.name,
      sessionId: input.sessionId,
      userId: input.userId ?? "",
      requestId,
      reason: input.reason ?? "",
      ...(call.operationId && { operationId: call.operationId }),
      requestScope: scope,
    };
    try {
      // Guess limits: a token-bearing call for a session over its limit stops here, before its token is checked (src/api/session-token-guard.ts).
      return await guardSessionToken(this.guessLimits, provider, input.sessionId, input.sessionToken, caller.name, async () => {
        // Authorization first: nothing is answered from state, replay included, to a caller that may not end the session.
        const authorization = (await provider.authorize?.({ caller, sessionId: input.sessionId, ...sessionToken })) ?? {};
        event.userId ||= authorization.sessionUserId ?? "";
        if (authorization.refusal) throw new ProviderFailure(provider.name, provider.type, authorization.refusal);
        // A caller let through only on the strength of its token, to a provider with no authorize step, has
        // had nothing checked yet: the upstream checks the token, so its answer decides, never a replay.
        const unchecked = !provider.authorize && !hasPermission(caller, "session.delete") && !!input.sessionToken;
        const replay = input.requestId && !unchecked ? await this.replay(scope, input.requestId, provider.name, input.sessionId) : undefined;
        if (replay) return replay;
        const result = await provider.terminate({
          caller,
          sessionId: input.sessionId,
          ...sessionToken,
          userId: input.userId ?? "",
          reason: input.reason ?? "",
          requestId,
          options: input.options ?? {},
          ...(call.twoFactorCode ? { twoFactorCode: call.twoFactorCode } : {}),
          signal: call.signal,
          ...(call.deadline !== undefined ? { deadline: call.deadline } : {}),
          audit: event,
        });
        if (!result.recorded) await this.audit.recordEvent({ ...event, code: "OK", alreadyTerminated: result.alreadyTerminated, details: result.details });
        this.observe(provider.name, "OK");
        return response(provider.name, result.details, result.alreadyTerminated);
      });
    } catch (err) {
      if (!(err instanceof ProviderFailure)) throw err;
      return this.failed(err, provider, caller, event);
    }
  }

  /**
   * Records a provider's failure and throws it mapped; success when the upstream no longer knows a
   * session this service ended. Only a caller holding session.delete learns whether a session
   * exists: to one let through on the strength of its token, an upstream's "wrong token" and "no
   * such session" (ended here or never there) are one refusal, as on the embedded store.
   */
  private async failed(err: ProviderFailure, provider: Provider, caller: Principal, event: AuditTemplate): Promise<TerminateResponse> {
    const row = rowFor(err, provider.table);
    const mayKnow = hasPermission(caller, "session.delete");
    const ended = mayKnow && row.reason === "SESSION_NOT_FOUND" && (await this.audit.findTermination(provider.name, event.sessionId));
    if (ended && ended.details) {
      await this.audit.recordEvent({ ...event, code: "OK", alreadyTerminated: true, details: ended.details });
      this.observe(provider.name, "OK");
      return response(provider.name, ended.details, true);
    }
    const mapped = mapFailure(err, provider.table);
    const answer = !mayKnow && SESSION_ANSWERS.has(row.reason) ? tokenRefused(provider.name) : mapped;
    const metadata = Object.fromEntries(Object.entries(err.answer).map(([k, v]) => [`upstream_${k}`, String(v)]));
    const { requestScope: scope, ...unscoped } = event;
    await this.audit.recordEvent({
      // The auditors get the upstream's answer. A refusal is never replayed: it must not block a later, allowed call.
      ...(REFUSALS.has(codeName(answer.code)) ? unscoped : { ...unscoped, requestScope: scope }),
      code: codeName(mapped.code),
      alreadyTerminated: false,
      error: { reason: row.reason, message: mapped.rawMessage, metadata, retryable: row.retryable === true },
    });
    this.observe(provider.name, codeName(answer.code));
    throw answer;
  }

  private validate(input: TerminateInput): Provider {
    const violations: FieldViolation[] = [];
    checkLength(violations, "session_id", input.sessionId, { required: true });
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
  private async replay(scope: string, requestId: string, provider: string, sessionId: string): Promise<TerminateResponse | undefined> {
    const prior = await this.audit.findEventByRequestId(scope, requestId);
    if (!prior) return undefined;
    if (prior.provider !== provider || prior.sessionId !== sessionId) {
      throw invalidArgument([{ field: "request_id", description: "was already used for another session or provider" }]);
    }
    if (prior.code === "OK" && prior.details) return response(prior.provider, prior.details, prior.alreadyTerminated);
    // A failure that a retry can mend is tried again, with the same request id; so is a call that was
    // cancelled or ran out of its caller's deadline, which says nothing about the session.
    if (!prior.error || prior.error.retryable || CALL_CUT_SHORT.has(prior.error.reason)) return undefined;
    throw new ConnectError(prior.error.message, codeFromName(prior.code), undefined, [errorInfo(prior.error.reason, prior.provider, prior.error.metadata)]);
  }
}

function response(provider: string, details: ChangeDetails, alreadyTerminated: boolean): TerminateResponse {
  return create(TerminateResponseSchema, { details: detailsMessage(details), provider, alreadyTerminated });
}

export function detailsMessage(d: ChangeDetails): MessageInitShape<typeof DetailsSchema> {
  return {
    sequence: d.sequence,
    resourceOwner: d.resourceOwner,
    ...(d.changeDate ? { changeDate: timestampFromDate(d.changeDate) } : {}),
    ...(d.creationDate ? { creationDate: timestampFromDate(d.creationDate) } : {}),
  };
}
