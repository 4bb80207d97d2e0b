import { z } from "zod";
import { hasPermission } from "../auth/principal.js";
import { decideTermination } from "../auth/termination-rule.js";
import { localTable } from "../status/local.js";
import type { Store } from "../store/store.js";
import { allowOptions, ProviderFailure, type ListUserSessionsCall, type Provider, type ProviderHealthReport, type TerminateCall, type TerminateResult, type UpstreamSession } from "./provider.js";
import { defineProviderType } from "./provider-type.js";

/** Sessions listed for one user at most, when a provider lists them. */
const MAX_LISTED = 100_000;

/** Provider type `local`: the embedded session store, under Zitadel's permission rule. */
export class LocalProvider implements Provider {
  readonly type = "local";
  readonly table = localTable;
  readonly verifiesTokens = true;
  readonly checkOptions = allowOptions({});
  private lastSuccess: Date | undefined;

  constructor(
    readonly name: string,
    private readonly store: Store,
  ) {}

  async terminate(call: TerminateCall): Promise<TerminateResult> {
    // Without a token, a caller holding session.delete may end any session there is: the rule
    // needs no look at the session first, and an unknown one is not_found below all the same.
    // That saves a read per call on the common path (bench/PROFILE.md).
    if (call.sessionToken !== undefined || !hasPermission(call.caller, "session.delete")) {
      const decision = decideTermination(call.caller, await this.store.getSession(call.sessionId), call.sessionToken);
      if (decision !== "allowed") throw new ProviderFailure(this.name, this.type, { code: decision, message: MESSAGES[decision] });
    }
    const outcome = await this.store.terminateSession(call.sessionId, { by: call.caller.name, reason: call.reason, requestId: call.requestId }, call.audit);
    // Unknown (sessions are never deleted, so one seen above is still there).
    if (!outcome) throw new ProviderFailure(this.name, this.type, { code: "not_found", message: MESSAGES.not_found });
    const s = outcome.session;
    this.lastSuccess = new Date();
    return {
      details: { sequence: s.sequence, changeDate: s.changeDate, resourceOwner: s.resourceOwner, creationDate: s.creationDate },
      alreadyTerminated: outcome.alreadyTerminated,
      recorded: call.audit !== undefined,
    };
  }

  health(): ProviderHealthReport {
    // The store is in this process: it has no outage and needs no breaker.
    return { ...(this.lastSuccess && { lastSuccess: this.lastSuccess }), breaker: "closed" };
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

/** Provider type `local`: the embedded store; it has no settings of its own. */
export const localType = defineProviderType({
  type: "local",
  table: localTable,
  settings: z.strictObject({}),
  create: (name, _settings, deps) => new LocalProvider(name, deps.store),
});
