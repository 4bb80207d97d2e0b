import { z } from "zod";
import { hasPermission } from "../auth/principal.js";
import { decideTermination, type TerminationDecision } from "../auth/termination-rule.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { localTable } from "../status/local.js";
import { ProviderFailure } from "../status/provider-failure.js";
import type { SessionStore } from "../store/store.js";
import { allowOptions, type Authorization, type AuthorizeCall, type ListUserSessionsCall, type Provider, type SessionListing, type TerminateCall, type TerminateResult } from "./provider.js";
import { defineProviderType } from "./provider-type.js";

/** Sessions listed for one user at most, when a provider lists them. */
const MAX_LISTED = 100_000;

/** Provider type `local`: the embedded session store, under Zitadel's permission rule. */
export class LocalProvider implements Provider {
  readonly type = "local";
  readonly table = localTable;
  readonly verifiesTokens = true;
  readonly checkOptions = allowOptions({});

  constructor(
    readonly name: string,
    private readonly sessions: SessionStore,
  ) {}

  async authorize(call: AuthorizeCall): Promise<Authorization> {
    // Without a token, a caller holding session.delete may end any session there is: the rule
    // needs no look at the session first, and an unknown one is not_found in terminate all the same.
    // That saves a read per call on the common path (bench/PROFILE.md).
    if (call.sessionToken === undefined && hasPermission(call.caller, "session.delete")) return {};
    const session = await this.sessions.getSession(call.sessionId);
    const decision = decideTermination(call.caller, session, call.sessionToken);
    return {
      ...(session && { sessionUserId: session.userId }),
      ...(decision !== "allowed" && { refusal: REFUSALS[decision] }),
    };
  }

  /** Called once authorize allowed the call. */
  async terminate(call: TerminateCall): Promise<TerminateResult> {
    const outcome = await this.sessions.terminateSession(call.sessionId, { by: call.caller.name, reason: call.reason, requestId: call.requestId }, call.audit);
    // Unknown (sessions are never deleted, so one authorize saw is still there).
    if (!outcome) throw new ProviderFailure(this.name, REFUSALS.not_found, this.table);
    const s = outcome.session;
    return {
      details: { sequence: s.sequence, changeDate: s.changeDate, resourceOwner: s.resourceOwner, creationDate: s.creationDate },
      alreadyTerminated: outcome.alreadyTerminated,
      recorded: call.audit !== undefined,
      userId: s.userId,
    };
  }

  async listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    const limit = Math.min(call.limit ?? MAX_LISTED, MAX_LISTED);
    const sessions = await this.sessions.listSessions({ userId: call.userId, limit });
    // A full page may have stopped at the limit.
    return { sessions: sessions.map((s) => ({ sessionId: s.id, userId: s.userId, active: !s.termination, createdAt: s.creationDate })), complete: sessions.length < limit };
  }
}

const DENIED: UpstreamAnswer = { code: "denied", message: "not allowed to end this session: present its token, end your own session, or hold session.delete" };

/**
 * The answers of refused calls. A wrong token gets the very answer of any other refusal, as does
 * an unknown id for callers without session.delete: nothing tells them apart (no probing for ids).
 */
const REFUSALS: Record<Exclude<TerminationDecision, "allowed">, UpstreamAnswer> = {
  not_found: { code: "not_found", message: "session not found" },
  denied: DENIED,
  wrong_token: DENIED,
};

/** Provider type `local`: the embedded store; it has no settings of its own. */
export const localType = defineProviderType({
  type: "local",
  table: localTable,
  settings: z.strictObject({}),
  create: (name, _settings, deps) => new LocalProvider(name, deps.sessions),
});
