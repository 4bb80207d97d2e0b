import type { SessionRecord } from "../store/store.js";
import { hasPermission, type Principal } from "./principal.js";
import { sessionTokenMatches } from "./session-token.js";

export type TerminationDecision = "allowed" | "denied" | "wrong_token" | "not_found";

/**
 * Zitadel's rule for ending a session: the session's current token, or the caller's own
 * session, or the session.delete permission. A presented token decides alone (a wrong one is
 * denied even to a permitted caller). Unknown ids are reported only to callers with
 * session.delete, so that others cannot probe for ids; callers answer wrong_token exactly as
 * denied, so that a token cannot tell an existing id from a missing one either.
 */
export function decideTermination(
  caller: Principal,
  session: SessionRecord | undefined,
  sessionToken: string | undefined,
): TerminationDecision {
  const mayDelete = hasPermission(caller, "session.delete");
  if (!session) return mayDelete ? "not_found" : "denied";
  if (sessionToken !== undefined) return sessionTokenMatches(sessionToken, session.tokenHash) ? "allowed" : "wrong_token";
  if (caller.userId !== undefined && caller.userId === session.userId) return "allowed";
  return mayDelete ? "allowed" : "denied";
}
