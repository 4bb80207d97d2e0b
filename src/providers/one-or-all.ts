import { ProviderFailure } from "../status/provider-failure.js";
import type { MappingTable } from "../status/table.js";
import { pathIdProblem } from "./path-id.js";
import { endedNow, type SessionListing, type TerminateCall, type TerminateResult, type UpstreamSession } from "./provider.js";

/** What an upstream that ends one session, or all of a user's in one call, does for `terminate` (Okta, Auth0). */
export interface OneOrAllEnds {
  provider: string;
  table: MappingTable;
  /** Ends one session; `id` is checked and may go into a path once encoded. */
  endSession(id: string, signal: AbortSignal): Promise<void>;
  /** Ends every session of the user in one call. */
  endAllOfUser(userId: string, signal: AbortSignal): Promise<void>;
  /** How many of the user's sessions are open, for an upstream that lists them; undefined when it cannot tell. */
  countOpen?(userId: string, signal: AbortSignal): Promise<number | undefined>;
}

/**
 * `terminate` of a provider with `endsAllOfUser` that can also end one session: with
 * `call.allOfUser` (sign-out-everywhere's ALL_SESSIONS item) every session of `call.userId` is
 * ended in one call, counted first where the upstream lists them; otherwise the one session named.
 * Ids that could change the upstream path are refused before anything is sent, as
 * `session_id_invalid` / `user_id_invalid` answers for the provider's table.
 */
export async function endOneOrAll(call: TerminateCall, ends: OneOrAllEnds): Promise<TerminateResult> {
  if (call.allOfUser) {
    const userId = idForPath(ends, call.userId, "user_id");
    const sessionsEnded = await ends.countOpen?.(userId, call.signal);
    await ends.endAllOfUser(userId, call.signal);
    return { ...endedNow(), allOfUser: true, ...(sessionsEnded !== undefined && { sessionsEnded }) };
  }
  await ends.endSession(idForPath(ends, call.sessionId, "session_id"), call.signal);
  return endedNow();
}

/** `id` when it may stand in a path (path-id.ts); otherwise the refusal, before anything is sent. */
export function idForPath(ends: Pick<OneOrAllEnds, "provider" | "table">, id: string, field: "session_id" | "user_id"): string {
  const problem = pathIdProblem(id);
  if (problem) throw new ProviderFailure(ends.provider, { code: `${field}_invalid`, message: `${field} ${problem}` }, ends.table);
  return id;
}

/**
 * How many sessions a listing found open, counted before a user-wide end: the count is a report,
 * the end is the work, so a listing that stopped short of the user's last session (its count
 * would be too low), was refused for a missing permission or failed in a way a retry could mend
 * leaves it uncounted (undefined) and the end goes ahead; any other refusal stands.
 */
export async function countOpenSessions(listing: Promise<SessionListing>): Promise<number | undefined> {
  try {
    const { sessions, complete } = await listing;
    return complete ? sessions.filter((s) => s.active).length : undefined;
  } catch (err) {
    if (err instanceof ProviderFailure && (err.row.reason === "PROVIDER_PERMISSION_MISSING" || err.retryable)) return undefined;
    throw err;
  }
}

/** The sessions of a page not listed before (by id): an upstream's paging cannot make a listing count one twice. */
export function newSessions(listed: readonly UpstreamSession[], page: readonly UpstreamSession[]): UpstreamSession[] {
  const seen = new Set(listed.map((s) => s.sessionId));
  return page.filter((s) => !seen.has(s.sessionId) && (seen.add(s.sessionId), true));
}
