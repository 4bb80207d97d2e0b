import type { OperationRecord, WorkItem, WorkKind, WorkState } from "./operation-types.js";
import type { InitiatingEntity } from "./outbox-types.js";
import type { AuditEvent, SessionRecord } from "./store.js";

/*
 * Rows as either database gives them back, and the one mapping of each to a record, so both stores
 * answer alike. SQLite keeps times as epoch milliseconds, flags as 0/1 and JSON as text (integers
 * as bigint); PostgreSQL gives Dates, booleans, int8 as text and jsonb parsed.
 */

export type Time = Date | number | bigint;
export type Flag = boolean | number | bigint;
export type Count = number | bigint | string;

export const toDate = (v: Time): Date => (v instanceof Date ? v : new Date(Number(v)));
export const isSet = (v: Flag): boolean => Number(v) === 1;
export const parsed = <T>(v: string | T): T => (typeof v === "string" ? (JSON.parse(v) as T) : v);

export interface SessionRow {
  id: string;
  user_id: string;
  resource_owner: string;
  creation_date: Time;
  change_date: Time;
  sequence: Count;
  expiration_date: Time | null;
  /** Values base64. */
  metadata: string | Record<string, string>;
  token_hash: Uint8Array;
  terminated_at: Time | null;
  terminated_by: string | null;
  termination_reason: string | null;
  termination_request_id: string | null;
}

/** Metadata as both stores keep it: JSON of base64 values. */
export function encodeMetadata(m: Record<string, Uint8Array>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Buffer.from(v).toString("base64")])));
}

export function sessionFromRow(r: SessionRow): SessionRecord {
  const metadata = parsed<Record<string, string>>(r.metadata);
  const record: SessionRecord = {
    id: r.id,
    userId: r.user_id,
    resourceOwner: r.resource_owner,
    creationDate: toDate(r.creation_date),
    changeDate: toDate(r.change_date),
    sequence: BigInt(r.sequence),
    metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, "base64"))])),
    tokenHash: new Uint8Array(r.token_hash),
  };
  if (r.expiration_date !== null) record.expirationDate = toDate(r.expiration_date);
  if (r.terminated_at !== null) {
    record.termination = {
      date: toDate(r.terminated_at),
      by: r.terminated_by ?? "",
      reason: r.termination_reason ?? "",
      requestId: r.termination_request_id ?? "",
    };
  }
  return record;
}

/** An events row: details and error as JSON text (PostgreSQL selects its jsonb columns as text). */
export interface EventRow {
  time: Time;
  principal: string;
  provider: string;
  session_id: string;
  user_id: string;
  request_id: string;
  reason: string;
  code: string;
  already_terminated: Flag;
  details: string | null;
  error: string | null;
  operation_id: string | null;
  request_scope: string | null;
}

/** The row of an event to insert, with the time in epoch milliseconds and the flag 0/1 (SQLite's columns). */
export function eventToRow(e: AuditEvent): EventRow & { time: number; already_terminated: number } {
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
    time: toDate(r.time),
    principal: r.principal,
    provider: r.provider,
    sessionId: r.session_id,
    userId: r.user_id,
    requestId: r.request_id,
    reason: r.reason,
    code: r.code,
    alreadyTerminated: isSet(r.already_terminated),
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

export interface OperationRow {
  id: string;
  user_id: string;
  reason: string;
  request_id: string;
  principal: string;
  created_at: Time;
  updated_at: Time;
  expires_at: Time;
  done: Flag;
  initiating_entity: string;
}

export function operationFromRow(r: OperationRow): OperationRecord {
  return {
    id: r.id,
    userId: r.user_id,
    reason: r.reason,
    requestId: r.request_id,
    principal: r.principal,
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
    expiresAt: toDate(r.expires_at),
    done: isSet(r.done),
    initiatingEntity: r.initiating_entity as InitiatingEntity,
  };
}

export interface ItemRow {
  operation_id: string;
  provider: string;
  provider_user_id: string;
  kind: WorkKind;
  session_id: string;
  state: WorkState;
  attempts: Count;
  next_attempt_at: Time;
  last_error: string | WorkItem["lastError"] | null;
  sessions_ended: Count | null;
}

export function itemFromRow(r: ItemRow): WorkItem {
  const item: WorkItem = {
    operationId: r.operation_id,
    provider: r.provider,
    providerUserId: r.provider_user_id,
    kind: r.kind,
    sessionId: r.session_id,
    state: r.state,
    attempts: Number(r.attempts),
    nextAttemptAt: toDate(r.next_attempt_at),
  };
  if (r.last_error) item.lastError = parsed(r.last_error);
  if (r.sessions_ended !== null && r.sessions_ended !== undefined) item.sessionsEnded = Number(r.sessions_ended);
  return item;
}
