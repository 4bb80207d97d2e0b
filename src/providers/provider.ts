import type { Principal } from "../auth/principal.js";
import type { UpstreamAnswer } from "../status/answer.js";
import type { FieldViolation } from "../status/failure.js";
import type { MappingTable } from "../status/table.js";
import type { AuditTemplate, ChangeDetails } from "../store/store.js";

/** What a provider needs to end one session. */
export interface TerminateCall {
  caller: Principal;
  sessionId: string;
  /** Absent when the caller sent none (or an empty one). */
  sessionToken?: string;
  userId: string;
  reason: string;
  /** The idempotency key: a retry of the same request carries the same one. */
  requestId: string;
  /** TerminateRequest.options, already checked by the provider's checkOptions. */
  options: Record<string, string>;
  /** The caller's `x-2fa-code` header, for upstreams that want a second factor. */
  twoFactorCode?: string;
  signal: AbortSignal;
  /** When the caller stops waiting (ms since the epoch); undefined: no deadline. */
  deadline?: number;
  /** The call's audit event, for a provider that can record it with its own write (then `recorded`). */
  audit?: AuditTemplate;
  /**
   * End every session of `userId` in one upstream call (sign-out-everywhere's work for a
   * provider with `endsAllOfUser`); `sessionId` is then ALL_SESSIONS.
   */
  allOfUser?: boolean;
}

export { ALL_SESSIONS } from "../store/operation-types.js";

export type AuthorizeCall = Pick<TerminateCall, "caller" | "sessionId" | "sessionToken">;

export interface Authorization {
  /** Set when the caller may not end the session: the answer, for the provider's table. */
  refusal?: UpstreamAnswer;
  /** The user whose session it is, when the provider looked the session up. */
  sessionUserId?: string;
}

export interface ListUserSessionsCall {
  userId: string;
  signal: AbortSignal;
  deadline?: number;
  /** No more sessions are wanted: a provider that reads them in pages or from a store may stop there. */
  limit?: number;
}

/** A session as an upstream lists it. */
export interface UpstreamSession {
  sessionId: string;
  userId: string;
  /** False when the upstream reports it as already over. */
  active: boolean;
  /** When the session was created, when the upstream says. */
  createdAt?: Date;
}

/** A provider's answer to listUserSessions. */
export interface SessionListing {
  sessions: UpstreamSession[];
  /**
   * False when the provider stopped before the end of the user's sessions (at its own cap, its
   * page limit, or the call's `limit`): the user may have more than those listed.
   */
  complete: boolean;
}

export interface TerminateResult {
  details: ChangeDetails;
  alreadyTerminated: boolean;
  /** True when the provider wrote the call's audit event itself. */
  recorded?: boolean;
  /** The session's user, when the provider knows it. */
  userId?: string;
  /** True when every session of the user was ended (a user-wide call), not the one named. */
  allOfUser?: boolean;
  /** How many sessions were open and so ended, when the provider could list them before a user-wide end. */
  sessionsEnded?: number;
}

/** The result of an end the upstream confirmed without details of the change: the date is ours, with no sequence or owner. */
export function endedNow(): TerminateResult {
  return { details: { sequence: 0n, changeDate: new Date(), resourceOwner: "" }, alreadyTerminated: false };
}

/**
 * A backend that ends sessions: the embedded store or an upstream system. A failure is thrown as
 * a ProviderFailure (src/status/provider-failure.ts) made with the provider's table.
 */
export interface Provider {
  readonly name: string;
  readonly type: string;
  /** How this provider's answers map to gRPC statuses (src/status/). */
  readonly table: MappingTable;
  /** True when the upstream checks session tokens itself, so a token can stand in for session.delete. */
  readonly verifiesTokens: boolean;
  /**
   * True when the upstream ends all of a user's sessions in one call: TerminateUser's work for it
   * is then one `terminate` with `allOfUser` (ALL_SESSIONS), which lists first when it can, to
   * report how many were open.
   */
  readonly endsAllOfUser?: boolean;
  /** True when the upstream ends only all of a user's sessions (every Terminate is user-wide): Terminate then asks for the same second factor as TerminateUser. */
  readonly endsOnlyAllOfUser?: boolean;
  /**
   * True when the upstream cannot list a user's sessions: listUserSessions answers ALL_SESSIONS (or
   * the user as one session) without asking it, so ListUserSessions reports it as "cannot list".
   */
  readonly cannotList?: boolean;
  /** Problems with TerminateRequest.options: unknown keys, bad values. */
  checkOptions(options: Record<string, string>): FieldViolation[];
  /**
   * For a provider that decides on callers itself (the embedded store): whether this caller may
   * end the session. Runs before anything that answers from state (replay included); terminate
   * is called only when it allowed the call.
   */
  authorize?(call: AuthorizeCall): Promise<Authorization>;
  terminate(call: TerminateCall): Promise<TerminateResult>;
  /** The user's sessions in this system, active or not, and whether that is all of them. */
  listUserSessions(call: ListUserSessionsCall): Promise<SessionListing>;
  close?(): Promise<void>;
}

/** The usual checkOptions: only the named keys, each value checked by its function. */
export function allowOptions(checks: Record<string, (value: string) => string | undefined>): (options: Record<string, string>) => FieldViolation[] {
  return (options) =>
    Object.entries(options).flatMap(([key, value]) => {
      const check = checks[key];
      const field = `options[${JSON.stringify(key.slice(0, 50))}]`;
      if (!check) {
        const known = Object.keys(checks);
        return [{ field, description: `unknown option for this provider; ${known.length ? `known: ${known.join(", ")}` : "it takes none"}` }];
      }
      const problem = check(value);
      return problem ? [{ field, description: problem }] : [];
    });
}
