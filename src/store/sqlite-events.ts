import type { AuditEvent } from "./store.js";

/** An events row as SQLite holds it: details and error as JSON. */
export interface EventRow {
  time: bigint | number;
  principal: string;
  provider: string;
  session_id: string;
  user_id: string;
  request_id: string;
  reason: string;
  code: string;
  already_terminated: bigint | number;
  details: string | null;
  error: string | null;
  operation_id: string | null;
  request_scope: string | null;
}

export function eventToRow(e: AuditEvent): EventRow {
  return {
    time: e.time.getTime(),
    principal: e.principal,
    provider: e.provider,
    session_id: e.sessionId,
    user_id: e.userId,
    request_id: e.requestId,
    reason: e.reason,
    code: e.code,
    already_terminated: e.alreadyTerminated ? 1 : 0,
    details: e.details
      ? JSON.stringify({
          sequence: e.details.sequence.toString(),
          changeDate: e.details.changeDate?.getTime(),
          resourceOwner: e.details.resourceOwner,
          creationDate: e.details.creationDate?.getTime(),
        })
      : null,
    error: e.error ? JSON.stringify(e.error) : null,
    operation_id: e.operationId ?? null,
    request_scope: e.requestScope ?? null,
  };
}

export function eventFromRow(r: EventRow): AuditEvent {
  const event: AuditEvent = {
    time: new Date(Number(r.time)),
    principal: r.principal,
    provider: r.provider,
    sessionId: r.session_id,
    userId: r.user_id,
    requestId: r.request_id,
    reason: r.reason,
    code: r.code,
    alreadyTerminated: Number(r.already_terminated) === 1,
  };
  if (r.details) {
    const d = JSON.parse(r.details) as { sequence: string; changeDate?: number; resourceOwner: string; creationDate?: number };
    event.details = {
      sequence: BigInt(d.sequence),
      resourceOwner: d.resourceOwner,
      ...(d.changeDate !== undefined && { changeDate: new Date(d.changeDate) }),
      ...(d.creationDate !== undefined && { creationDate: new Date(d.creationDate) }),
    };
  }
  if (r.error) event.error = JSON.parse(r.error) as AuditEvent["error"];
  if (r.operation_id) event.operationId = r.operation_id;
  if (r.request_scope) event.requestScope = r.request_scope;
  return event;
}
