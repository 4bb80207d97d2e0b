import { randomBytes } from "node:crypto";
import pg from "pg";
import { migrate, SCHEMA_NAME } from "./postgres-migrations.js";
import { PostgresOperations, transaction } from "./postgres-operations.js";
import { newSessionId } from "./session-id.js";
import { eventFromRow, eventToRow } from "./sqlite-events.js";
import type { NewOperation, OperationQuery, OperationRecord, WorkClaim, WorkItem, WorkOutcome } from "./operation-types.js";
import { terminationEvent, type AuditEvent, type AuditTemplate, type EventQuery, type ListedEvent, type ListQuery, type NewSession, type SessionRecord, type Store, type Termination, type TerminateOutcome } from "./store.js";

export interface PostgresOptions {
  /** Keep the tables in this schema (created when missing) instead of the connection's search_path. */
  schema?: string;
  /** Connections in the pool; default 10. */
  poolSize?: number;
}

interface SessionRow {
  id: string;
  user_id: string;
  resource_owner: string;
  creation_date: Date;
  change_date: Date;
  /** int8 arrives as text. */
  sequence: string;
  expiration_date: Date | null;
  metadata: Record<string, string>;
  token_hash: Buffer;
  terminated_at: Date | null;
  terminated_by: string | null;
  termination_reason: string | null;
  termination_request_id: string | null;
}

/** An events row with details and error selected as text, as the SQLite row mapping expects them. */
interface EventRow {
  id: string;
  time: Date;
  principal: string;
  provider: string;
  session_id: string;
  user_id: string;
  request_id: string;
  reason: string;
  code: string;
  already_terminated: boolean;
  details: string | null;
  error: string | null;
  operation_id: string | null;
  request_scope: string | null;
}

const EVENT_COLUMNS = `id, time, principal, provider, session_id, user_id, request_id, reason, code, already_terminated,
  details::text AS details, error::text AS error, operation_id, request_scope`;

/**
 * The store for several replicas: PostgreSQL through a `pg` pool, schema kept by versioned
 * migrations applied at connect. Each write is its own transaction, committed with the
 * server's synchronous_commit (default on: flushed to disk) before its promise resolves;
 * concurrent commits share WAL flushes in the server, so no group commit is needed here.
 * Races between replicas are settled by the database: a conditional UPDATE ends a session
 * once, unique keys make operations and TOTP steps once-only, and work is claimed with
 * FOR UPDATE SKIP LOCKED on the database clock.
 */
export class PostgresStore implements Store {
  private readonly operations: PostgresOperations;
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    /** The migration versions this connect applied (none when another replica had applied them). */
    readonly appliedMigrations: readonly number[],
  ) {
    this.operations = new PostgresOperations(pool);
  }

  static async connect(url: string, options: PostgresOptions = {}): Promise<PostgresStore> {
    const { schema, poolSize = 10 } = options;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _`);
    const pool = new pg.Pool({ ...connection(url, schema), max: poolSize });
    // An idle connection that fails (the server restarted) is dropped by the pool; the next query gets a new one.
    pool.on("error", () => undefined);
    try {
      const client = await pool.connect();
      try {
        const applied = await migrate(client, schema);
        client.release();
        return new PostgresStore(pool, applied);
      } catch (err) {
        client.release(err instanceof Error ? err : new Error(String(err)));
        throw err;
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  async createSession(s: NewSession): Promise<SessionRecord> {
    const now = new Date();
    const id = newSessionId(now);
    const { rows } = await this.pool.query<{ sequence: string }>(
      `INSERT INTO sessions (id, user_id, resource_owner, creation_date, change_date, sequence, expiration_date, metadata, token_hash)
       VALUES ($1, $2, $3, $4, $4, nextval('session_sequence'), $5, $6, $7)
       RETURNING sequence`,
      [id, s.userId, s.resourceOwner, now, s.expirationDate ?? null, encodeMetadata(s.metadata), Buffer.from(s.tokenHash)],
    );
    return { id, ...s, creationDate: now, changeDate: now, sequence: BigInt(rows[0]!.sequence) };
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.pool.query<SessionRow>("SELECT * FROM sessions WHERE id = $1", [id]);
    return rows[0] && toRecord(rows[0]);
  }

  async listSessions(q: ListQuery): Promise<SessionRecord[]> {
    const filters: string[] = [];
    const params: unknown[] = [];
    if (q.userId !== undefined) filters.push(`user_id = $${params.push(q.userId)}`);
    if (q.beforeId !== undefined) filters.push(`id < $${params.push(q.beforeId)}`);
    const where = filters.length > 0 ? `WHERE ${filters.join(" AND ")}` : "";
    const { rows } = await this.pool.query<SessionRow>(`SELECT * FROM sessions ${where} ORDER BY id DESC LIMIT $${params.push(q.limit)}`, params);
    return rows.map(toRecord);
  }

  async terminateSession(id: string, t: Omit<Termination, "date">, audit?: AuditTemplate): Promise<TerminateOutcome | undefined> {
    // Replicas ending the same session at once: the row lock orders them, and the later one
    // re-checks `terminated_at IS NULL` against the first one's committed row, so it changes nothing.
    return transaction(this.pool, async (client) => {
      const now = new Date();
      const ended = await client.query<SessionRow>(
        `UPDATE sessions
         SET terminated_at = $2, terminated_by = $3, termination_reason = $4, termination_request_id = $5,
             change_date = $2, sequence = nextval('session_sequence')
         WHERE id = $1 AND terminated_at IS NULL
         RETURNING *`,
        [id, now, t.by, t.reason, t.requestId],
      );
      let outcome: TerminateOutcome | undefined;
      if (ended.rows[0]) outcome = { session: toRecord(ended.rows[0]), alreadyTerminated: false };
      else {
        const { rows } = await client.query<SessionRow>("SELECT * FROM sessions WHERE id = $1", [id]);
        outcome = rows[0] && { session: toRecord(rows[0]), alreadyTerminated: true };
      }
      if (outcome && audit) await insertEvent(client, terminationEvent(audit, outcome));
      return outcome;
    });
  }

  async recordEvent(event: AuditEvent): Promise<void> {
    await insertEvent(this.pool, event);
  }

  async findEventByRequestId(scope: string, requestId: string): Promise<AuditEvent | undefined> {
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE request_scope = $1 AND request_id = $2 ORDER BY id DESC LIMIT 1`,
      [scope, requestId],
    );
    return rows[0] && toEvent(rows[0]);
  }

  async serviceSecret(name: string): Promise<Buffer> {
    // Replicas starting at once: one insert wins, and every one reads the winner's value.
    await this.pool.query("INSERT INTO service_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", [name, randomBytes(32)]);
    const { rows } = await this.pool.query<{ value: Buffer }>("SELECT value FROM service_secrets WHERE name = $1", [name]);
    return rows[0]!.value;
  }

  async findTermination(provider: string, sessionId: string): Promise<AuditEvent | undefined> {
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE provider = $1 AND session_id = $2 AND code = 'OK' ORDER BY id LIMIT 1`,
      [provider, sessionId],
    );
    return rows[0] && toEvent(rows[0]);
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
    const { rows } = await this.pool.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events ${where} ORDER BY id DESC LIMIT $${params.push(q.limit)}`, params);
    return rows.map((r) => ({ ...toEvent(r), id: BigInt(r.id) }));
  }

  async deleteEventsBefore(cutoff: Date, limit: number): Promise<number> {
    const { rowCount } = await this.pool.query("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < $1 ORDER BY time LIMIT $2)", [cutoff, limit]);
    return rowCount ?? 0;
  }

  async useTotpStep(principal: string, step: number): Promise<boolean> {
    // Steps older than the window cannot be presented again; their rows are dropped. Two
    // replicas recording the same step at once: the unique key lets one insert, the other gets false.
    const { rowCount } = await this.pool.query(
      `WITH pruned AS (DELETE FROM totp_steps WHERE principal = $1 AND step < $2::bigint - 10)
       INSERT INTO totp_steps (principal, step) VALUES ($1, $2::bigint)
       ON CONFLICT DO NOTHING`,
      [principal, step],
    );
    return (rowCount ?? 0) > 0;
  }

  createOperation(op: NewOperation): Promise<{ operation: OperationRecord; created: boolean }> {
    return this.operations.createOperation(op);
  }

  getOperation(id: string): Promise<{ operation: OperationRecord; items: WorkItem[] } | undefined> {
    return this.operations.getOperation(id);
  }

  listOperations(q: OperationQuery): Promise<OperationRecord[]> {
    return this.operations.listOperations(q);
  }

  completeListing(operationId: string, provider: string, sessionIds: string[]): Promise<void> {
    return this.operations.completeListing(operationId, provider, sessionIds);
  }

  completeWork(item: Pick<WorkItem, "operationId" | "provider" | "kind" | "sessionId">, outcome: WorkOutcome): Promise<void> {
    return this.operations.completeWork(item, outcome);
  }

  claimWork(worker: string, leaseMs: number, limit: number, operationId?: string): Promise<WorkClaim[]> {
    return this.operations.claimWork(worker, leaseMs, limit, operationId);
  }

  expireWork(now: Date): Promise<number> {
    return this.operations.expireWork(now);
  }

  /** A server setting as this store's connections see it (e.g. synchronous_commit, search_path), for checks. */
  async setting(name: string): Promise<string> {
    const { rows } = await this.pool.query<{ value: string }>("SELECT current_setting($1) AS value", [name]);
    return rows[0]!.value;
  }

  close(): Promise<void> {
    this.closed ??= this.pool.end();
    return this.closed;
  }
}

/** The pool's connection settings: `schema` becomes the search_path of every connection it opens. */
function connection(url: string, schema: string | undefined): pg.PoolConfig {
  if (schema === undefined) return { connectionString: url };
  const searchPath = `-c search_path=${schema}`;
  // Settings in the URL win over the config's, so an `options` parameter there is extended instead.
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  const given = parsed?.searchParams.get("options");
  if (parsed && given) {
    parsed.searchParams.set("options", `${given} ${searchPath}`);
    return { connectionString: parsed.toString() };
  }
  return { connectionString: url, options: searchPath };
}

function encodeMetadata(m: Record<string, Uint8Array>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Buffer.from(v).toString("base64")])));
}

function decodeMetadata(raw: Record<string, string>): Record<string, Uint8Array> {
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, "base64"))]));
}

function toRecord(r: SessionRow): SessionRecord {
  const record: SessionRecord = {
    id: r.id,
    userId: r.user_id,
    resourceOwner: r.resource_owner,
    creationDate: r.creation_date,
    changeDate: r.change_date,
    sequence: BigInt(r.sequence),
    metadata: decodeMetadata(r.metadata),
    tokenHash: new Uint8Array(r.token_hash),
  };
  if (r.expiration_date !== null) record.expirationDate = r.expiration_date;
  if (r.terminated_at !== null) {
    record.termination = {
      date: r.terminated_at,
      by: r.terminated_by ?? "",
      reason: r.termination_reason ?? "",
      requestId: r.termination_request_id ?? "",
    };
  }
  return record;
}

/** The same mapping as SQLite's, so both stores give back identical events. */
function toEvent(r: EventRow): AuditEvent {
  return eventFromRow({ ...r, time: r.time.getTime(), already_terminated: r.already_terminated ? 1 : 0 });
}

async function insertEvent(db: pg.Pool | pg.PoolClient, event: AuditEvent): Promise<void> {
  const r = eventToRow(event);
  await db.query(
    `INSERT INTO events (time, principal, provider, session_id, user_id, request_id, reason, code, already_terminated, details, error, operation_id, request_scope)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [event.time, r.principal, r.provider, r.session_id, r.user_id, r.request_id, r.reason, r.code, event.alreadyTerminated, r.details, r.error, r.operation_id, r.request_scope],
  );
}
