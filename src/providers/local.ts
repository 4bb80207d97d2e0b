import { decideTermination } from "../auth/termination-rule.js";
import type { Store } from "../store/store.js";
import { allowOptions, ProviderFailure, type ListUserSessionsCall, type Provider, type TerminateCall, type TerminateResult, type UpstreamSession } from "./provider.js";

/** Sessions listed for one user at most, when a provider lists them. */
const MAX_LISTED = 100_000;

/** Provider type `local`: the embedded session store, under Zitadel's permission rule. */
export class LocalProvider implements Provider {
  readonly type = "local";
  readonly verifiesTokens = true;
  readonly checkOptions = allowOptions({});

  constructor(
    readonly name: string,
    private readonly store: Store,
  ) {}

  async terminate(call: TerminateCall): Promise<TerminateResult> {
    const session = await this.store.getSession(call.sessionId);
    const decision = decideTermination(call.caller, session, call.sessionToken);
    if (decision !== "allowed") throw new ProviderFailure(this.name, this.type, { code: decision, message: MESSAGES[decision] });
    const outcome = await this.store.terminateSession(call.sessionId, {
      by: call.caller.name,
      reason: call.reason,
      requestId: call.requestId,
    });
    // The session was seen a moment ago and sessions are never deleted.
    if (!outcome) throw new ProviderFailure(this.name, this.type, { code: "not_found", message: MESSAGES.not_found });
    const s = outcome.session;
    return {
      details: { sequence: s.sequence, changeDate: s.changeDate, resourceOwner: s.resourceOwner, creationDate: s.creationDate },
      alreadyTerminated: outcome.alreadyTerminated,
    };
  }

  async listUserSessions(call: ListUserSessionsCall): Promise<UpstreamSession[]> {
    const sessions = await this.store.listSessions({ userId: call.userId, limit: MAX_LISTED });
    return sessions.map((s) => ({ sessionId: s.id, userId: s.userId, active: !s.termination }));
  }
}

const MESSAGES = {
  not_found: "session not found",
  denied: "not allowed to end this session: present its token, end your own session, or hold session.delete",
  wrong_token: "the session token is invalid for this session",
} as const;
