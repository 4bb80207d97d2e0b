import type pg from "pg";
import { announces, endedNotice, type OutboxSubscribers } from "./outbox-notices.js";
import { queueRevoked } from "./postgres-outbox.js";
import { eventFromRow, eventToRow, type EventRow } from "./rows.js";
import type { AuditEvent, AuditStore, EventQuery, ListedEvent } from "./store.js";

/** details and error selected as text, so that both stores read them with the same mapping. */
const EVENT_COLUMNS = `id, time, principal, provider, session_id, user_id, request_id, reason, code, already_terminated,
  details::text AS details, error::text AS error, operation_id, request_scope`;

type ListedRow = EventRow & { id: string };

/** The audit trail in PostgreSQL, shared by every replica. */
export class PostgresAudit implements AuditStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly subscribers: OutboxSubscribers,
  ) {}

  async recordEvent(event: AuditEvent): Promise<void> {
    this.subscribers.queued(await insertEvent(this.pool, event, this.subscribers));
  }

  async findEventByRequestId(scope: string, requestId: string): Promise<AuditEvent | undefined> {
    const { rows } = await this.pool.query<ListedRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE request_scope = $1 AND request_id = $2 ORDER BY id DESC LIMIT 1`,
      [scope, requestId],
    );
    return rows[0] && eventFromRow(rows[0]);
  }

  async findTermination(provider: string, sessionId: string): Promise<AuditEvent | undefined> {
    const { rows } = await this.pool.query<ListedRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE provider = $1 AND session_id = $2 AND code = 'OK' ORDER BY id LIMIT 1`,
      [provider, sessionId],
    );
    return rows[0] && eventFromRow(rows[0]);
  }

  async listEvents(q: EventQuery): Promise<ListedEvent[]> {
    const filters: string[] = [];
    const params: unknown[] = [];
    if (q.userId !== undefined) filters.push(`user_id = $${params.push(q.userId)}`);
    if (q.sessionId !== undefined) filters.push(`session_id = $${params.push(q.sessionId)}`);
    if (q.principal !== undefined) filters.push(`principal = $${params.push(q.principal)}`);
    if (q.provider !== undefined) filters.push(`provider = $${params.push(q.provider)}`);
    if (q.from !== undefined) filters.push(`time >= $${params.push(q.from)}`);
    if (q.to !== undefined) filters.push(`time < $${params.push(q.to)}`);
    if (q.beforeId !== undefined) filters.push(`id < $${params.push(q.beforeId.toString())}`);
    const where = filters.length > 0 ? `WHERE ${filters.join(" AND ")}` : "";
    const { rows } = await this.pool.query<ListedRow>(`SELECT ${EVENT_COLUMNS} FROM events ${where} ORDER BY id DESC LIMIT $${params.push(q.limit)}`, params);
    return rows.map((r) => ({ ...eventFromRow(r), id: BigInt(r.id) }));
  }

  async deleteEventsBefore(cutoff: Date, limit: number): Promise<number> {
    const { rowCount } = await this.pool.query("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < $1 ORDER BY time LIMIT $2)", [cutoff, limit]);
    return rowCount ?? 0;
  }
}

/**
 * Inserts an event on the pool, or in the transaction of a client; an announced end's notice in the
 * same statement. Answers the subscribers given a delivery (to be told once it commits).
 */
export async function insertEvent(db: pg.Pool | pg.PoolClient, event: AuditEvent, subscribers: OutboxSubscribers): Promise<string[]> {
  const r = eventToRow(event);
  const insert = {
    sql: `INSERT INTO events (time, principal, provider, session_id, user_id, request_id, reason, code, already_terminated, details, error, operation_id, request_scope)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    params: [event.time, r.principal, r.provider, r.session_id, r.user_id, r.request_id, r.reason, r.code, event.alreadyTerminated, r.details, r.error, r.operation_id, r.request_scope],
  };
  if (announces(event)) return queueRevoked(db, endedNotice(event), subscribers, { sql: `event AS (${insert.sql})`, params: insert.params });
  await db.query(insert.sql, insert.params);
  return [];
}
