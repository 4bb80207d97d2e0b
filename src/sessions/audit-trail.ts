import { requestScope, type AuditEvent, type AuditTemplate, type AuditStore, type EventQuery, type ListedEvent } from "../store/store.js";
import { requirePermission, type Principal } from "../auth/principal.js";
import { encodePageToken, pageCursor, pageSize, type Page } from "../store/page-token.js";
import type { SessionEnded, TerminationEvents, TerminationFacts, TerminationFailed } from "./termination-events.js";

/** Codes of refusals, which are never replayed (the store migrations list them too, for older events). */
const REFUSALS: ReadonlySet<string> = new Set(["UNAUTHENTICATED", "PERMISSION_DENIED", "INVALID_ARGUMENT"]);

/** Background work's request ids belong to its operation, a caller's to the caller. */
export function scopeOf(principal: string, operationId: string | undefined): string {
  return operationId ? requestScope.operation(operationId) : requestScope.principal(principal);
}

/** The audit trail as a subscriber: every outcome of a termination becomes one event. */
export function recordTerminations(audit: Pick<AuditStore, "recordEvent">, events: TerminationEvents): void {
  events.onEnded((e) => (e.recorded ? undefined : audit.recordEvent(endedEvent(e))));
  events.onFailed((e) => audit.recordEvent(failedEvent(e)));
}

/**
 * The audit row of a session's end before its outcome is known: the embedded store completes it in
 * the same commit as the end. It asks for the end to be announced (the store does so for a first end).
 */
export function auditTemplate(e: TerminationFacts): AuditTemplate {
  return { ...facts(e), requestScope: scopeOf(e.principal, e.operationId), ...(e.announce && { announce: e.announce }) };
}

function endedEvent(e: SessionEnded): AuditEvent {
  return {
    ...auditTemplate(e),
    code: "OK",
    alreadyTerminated: e.alreadyEnded,
    details: e.details,
  };
}

/** The auditors get the upstream's answer. A refusal is never replayed: it must not block a later, allowed call. */
function failedEvent(e: TerminationFailed): AuditEvent {
  const { failure } = e;
  return {
    ...facts(e),
    ...(!REFUSALS.has(e.answered.code) && { requestScope: scopeOf(e.principal, e.operationId) }),
    code: failure.code,
    alreadyTerminated: false,
    error: { reason: failure.reason, message: failure.message, metadata: { ...failure.metadata }, retryable: failure.retryable },
  };
}

function facts({ time, principal, provider, sessionId, userId, requestId, reason, operationId }: TerminationFacts): TerminationFacts {
  return { time, principal, provider, sessionId, userId, requestId, reason, ...(operationId && { operationId }) };
}

/** Filters of the audit trail; each one given must match. */
export type EventFilter = Omit<EventQuery, "limit" | "beforeId">;

/** Reading the audit trail: filters and keyset paging, newest first; needs session.read. */
export class AuditTrail {
  constructor(private readonly audit: Pick<AuditStore, "listEvents">) {}

  async list(caller: Principal, filter: EventFilter, paging: { pageSize: number; pageToken: string }): Promise<Page<ListedEvent>> {
    requirePermission(caller, "session.read");
    // Tokens are bound to the filters they were issued for.
    const scope = JSON.stringify(filter);
    const before = pageCursor(paging.pageToken, scope, /^\d{1,20}$/);
    const limit = pageSize(paging.pageSize);
    const rows = await this.audit.listEvents({ ...filter, limit: limit + 1, ...(before && { beforeId: BigInt(before) }) });
    const shown = rows.slice(0, limit);
    return { items: shown, nextPageToken: rows.length > limit ? encodePageToken(scope, shown[shown.length - 1]!.id.toString()) : "" };
  }
}
