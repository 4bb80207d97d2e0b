import type pg from "pg";
import type { NewOperation, OperationQuery, OperationRecord, OperationStore, WorkClaim, WorkItem, WorkOutcome } from "./operation-types.js";
import { operationNotice, type OutboxSubscribers } from "./outbox-notices.js";
import { queueRevoked } from "./postgres-outbox.js";
import { newestFirst, transaction } from "./postgres-pool.js";
import { itemFromRow, operationFromRow, type ItemRow, type OperationRow } from "./rows.js";
import { newSessionId } from "./session-id.js";

type ItemKey = Pick<WorkItem, "operationId" | "provider" | "kind" | "sessionId">;

const EXPIRED_ERROR = JSON.stringify({
  code: "DEADLINE_EXCEEDED",
  reason: "OPERATION_EXPIRED",
  message: "the operation's maximum age passed before this work succeeded",
});

/** The operation's columns under other names, for a join with work_items. */
const OP_COLUMNS = `o.id AS op_id, o.user_id AS op_user_id, o.reason AS op_reason, o.request_id AS op_request_id, o.principal AS op_principal,
  o.created_at AS op_created_at, o.updated_at AS op_updated_at, o.expires_at AS op_expires_at, o.done AS op_done, o.initiating_entity AS op_initiating_entity`;

/**
 * Operations and their work items in PostgreSQL, shared by every replica. Claims are rows
 * locked with FOR UPDATE SKIP LOCKED and leases on the database clock; every change of an
 * operation's items first locks the operation's row, so that "done" is computed after the
 * other replicas' changes to the same operation, never beside them.
 */
export class PostgresOperations implements OperationStore {
  constructor(
    private readonly pool: pg.Pool,
    /** The notice that an operation is done is written in the transaction that makes it so; they hear of it after the commit. */
    private readonly subscribers: OutboxSubscribers,
  ) {}

  createOperation(op: NewOperation): Promise<{ operation: OperationRecord; created: boolean }> {
    return transaction(this.pool, async (c) => {
      const now = new Date();
      const id = newSessionId(now);
      // A concurrent insert of the same request id (another replica) makes this one wait for it, then do nothing.
      const inserted = await c.query<OperationRow>(
        `INSERT INTO operations (id, user_id, reason, request_id, principal, created_at, updated_at, expires_at, initiating_entity)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)
         ON CONFLICT (principal, request_id) DO NOTHING
         RETURNING *`,
        [id, op.userId, op.reason, op.requestId, op.principal, now, op.expiresAt, op.initiatingEntity],
      );
      const row = inserted.rows[0];
      if (!row) {
        // A request id is the principal's own: another principal's is a new id.
        const known = await c.query<OperationRow>("SELECT * FROM operations WHERE principal = $1 AND request_id = $2", [op.principal, op.requestId]);
        if (!known.rows[0]) throw new Error(`operation of request ${op.requestId} vanished`);
        return { operation: operationFromRow(known.rows[0]), created: false };
      }
      if (op.providers.length > 0) {
        await c.query(
          `INSERT INTO work_items (operation_id, provider, provider_user_id, kind, session_id, state, next_attempt_at)
           SELECT $1, p.provider, p.provider_user_id, 'list', '', 'pending', now()
           FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS p (provider, provider_user_id, n)
           ORDER BY p.n
           ON CONFLICT DO NOTHING`,
          [id, op.providers.map((p) => p.provider), op.providers.map((p) => p.providerUserId)],
        );
      }
      return { operation: operationFromRow(row), created: true };
    });
  }

  async getOperation(id: string): Promise<{ operation: OperationRecord; items: WorkItem[] } | undefined> {
    const op = await this.pool.query<OperationRow>("SELECT * FROM operations WHERE id = $1", [id]);
    if (!op.rows[0]) return undefined;
    const items = await this.pool.query<ItemRow>("SELECT * FROM work_items WHERE operation_id = $1 ORDER BY provider, kind DESC, session_id", [id]);
    return { operation: operationFromRow(op.rows[0]), items: items.rows.map(itemFromRow) };
  }

  async listOperations(q: OperationQuery): Promise<OperationRecord[]> {
    return (await newestFirst<OperationRow>(this.pool, "operations", q)).map(operationFromRow);
  }

  async completeListing(operationId: string, provider: string, sessionIds: string[], listing: WorkOutcome = { state: "ended" }): Promise<void> {
    const queued = await transaction(this.pool, async (c) => {
      await lockOperation(c, operationId);
      const list = await c.query<{ provider_user_id: string }>(
        "SELECT provider_user_id FROM work_items WHERE operation_id = $1 AND provider = $2 AND kind = 'list' AND session_id = ''",
        [operationId, provider],
      );
      if (!list.rows[0]) throw new Error(`no listing of ${provider} in operation ${operationId}`);
      if (sessionIds.length > 0) {
        // Known items (an earlier listing, a duplicate id) are kept as they are.
        await c.query(
          `INSERT INTO work_items (operation_id, provider, provider_user_id, kind, session_id, state, next_attempt_at)
           SELECT $1, $2, $3, 'end', s.id, 'pending', now()
           FROM unnest($4::text[]) WITH ORDINALITY AS s (id, n)
           ORDER BY s.n
           ON CONFLICT DO NOTHING`,
          [operationId, provider, list.rows[0].provider_user_id, sessionIds],
        );
      }
      return update(c, { operationId, provider, kind: "list", sessionId: "" }, listing, this.subscribers);
    });
    this.subscribers.queued(queued);
  }

  async completeWork(item: ItemKey, outcome: WorkOutcome): Promise<void> {
    const queued = await transaction(this.pool, async (c) => {
      await lockOperation(c, item.operationId);
      return update(c, item, outcome, this.subscribers);
    });
    this.subscribers.queued(queued);
  }

  async claimWork(worker: string, leaseMs: number, limit: number, operationId?: string): Promise<WorkClaim[]> {
    const params: unknown[] = [worker, leaseMs, limit];
    const ofOperation = operationId === undefined ? "" : `AND operation_id = $${params.push(operationId)}`;
    // One statement, so one transaction: the due rows are locked (rows another worker is
    // claiming right now are skipped), re-checked against their latest version, then claimed.
    // now() is the database's clock, the same for every replica.
    const { rows } = await this.pool.query<ItemRow & { [k: `op_${string}`]: unknown }>(
      `WITH due AS (
         SELECT operation_id, provider, kind, session_id
         FROM work_items
         WHERE state = 'pending' AND next_attempt_at <= now() AND (claimed_until IS NULL OR claimed_until < now()) ${ofOperation}
         ORDER BY next_attempt_at, operation_id, provider, kind DESC, session_id
         LIMIT $3
         FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE work_items w
         SET claimed_by = $1, claimed_until = now() + $2::double precision * interval '1 millisecond', attempts = w.attempts + 1
         FROM due
         WHERE w.operation_id = due.operation_id AND w.provider = due.provider AND w.kind = due.kind AND w.session_id = due.session_id
         RETURNING w.*
       )
       SELECT claimed.*, ${OP_COLUMNS}
       FROM claimed JOIN operations o ON o.id = claimed.operation_id
       ORDER BY claimed.next_attempt_at, claimed.operation_id, claimed.provider, claimed.kind DESC, claimed.session_id`,
      params,
    );
    return rows.map((r) => ({
      item: itemFromRow(r),
      operation: operationFromRow({
        id: r.op_id as string,
        user_id: r.op_user_id as string,
        reason: r.op_reason as string,
        request_id: r.op_request_id as string,
        principal: r.op_principal as string,
        created_at: r.op_created_at as Date,
        updated_at: r.op_updated_at as Date,
        expires_at: r.op_expires_at as Date,
        done: r.op_done as boolean,
        initiating_entity: r.op_initiating_entity as string,
      }),
    }));
  }

  async expireWork(now: Date): Promise<number> {
    const { expired, queued } = await transaction(this.pool, async (c) => {
      // Locked in id order, so that replicas expiring at once wait for each other rather than deadlock.
      const expired = await c.query<{ id: string }>(
        `SELECT o.id FROM operations o
         WHERE o.expires_at < $1 AND EXISTS (SELECT 1 FROM work_items w WHERE w.operation_id = o.id AND w.state = 'pending')
         ORDER BY o.id
         FOR NO KEY UPDATE OF o`,
        [now],
      );
      if (expired.rows.length === 0) return { expired: 0, queued: [] };
      // A replica that expired the same operations first leaves nothing pending: those do not count here.
      const failed = await c.query<{ operation_id: string }>(
        `WITH failed AS (
           UPDATE work_items SET state = 'failed', last_error = $2, claimed_by = NULL, claimed_until = NULL
           WHERE operation_id = ANY($1::text[]) AND state = 'pending'
           RETURNING operation_id
         )
         SELECT DISTINCT operation_id FROM failed`,
        [expired.rows.map((r) => r.id), EXPIRED_ERROR],
      );
      const ids = failed.rows.map((r) => r.operation_id);
      return { expired: ids.length, queued: ids.length > 0 ? await touch(c, ids, now, this.subscribers) : [] };
    });
    this.subscribers.queued(queued);
    return expired;
  }
}

/** Locks the operation's row until the transaction ends (no-op when there is none). */
async function lockOperation(c: pg.ClientBase, operationId: string): Promise<void> {
  await c.query("SELECT 1 FROM operations WHERE id = $1 FOR NO KEY UPDATE", [operationId]);
}

/** Records an outcome, releases the claim, and updates the operation (whose row the caller holds locked); answers the subscribers given deliveries. */
async function update(c: pg.ClientBase, item: ItemKey, outcome: WorkOutcome, subscribers: OutboxSubscribers): Promise<string[]> {
  await c.query(
    `UPDATE work_items SET state = $5, last_error = $6, next_attempt_at = COALESCE($7::timestamptz, now()), sessions_ended = $8, claimed_by = NULL, claimed_until = NULL
     WHERE operation_id = $1 AND provider = $2 AND kind = $3 AND session_id = $4`,
    [item.operationId, item.provider, item.kind, item.sessionId, outcome.state, outcome.lastError ? JSON.stringify(outcome.lastError) : null, outcome.nextAttemptAt ?? null, outcome.sessionsEnded ?? null],
  );
  return touch(c, [item.operationId], new Date(), subscribers);
}

/**
 * Sets updated_at, and done when nothing is pending; each operation that became done with every
 * session ended announces it (`prev` is the row before this statement, which the caller holds
 * locked; one that failed somewhere did not end all of the user's sessions). Answers the
 * subscribers given deliveries.
 */
async function touch(c: pg.ClientBase, operationIds: string[], now: Date, subscribers: OutboxSubscribers): Promise<string[]> {
  const { rows } = await c.query<OperationRow & { was_done: boolean; failed: boolean }>(
    `UPDATE operations o
     SET updated_at = $2, done = NOT EXISTS (SELECT 1 FROM work_items w WHERE w.operation_id = o.id AND w.state = 'pending')
     FROM operations prev
     WHERE o.id = ANY($1::text[]) AND prev.id = o.id
     RETURNING o.*, prev.done AS was_done, EXISTS (SELECT 1 FROM work_items w WHERE w.operation_id = o.id AND w.state = 'failed') AS failed`,
    [operationIds, now],
  );
  const queued: string[] = [];
  for (const row of rows.filter((r) => r.done && !r.was_done && !r.failed)) queued.push(...(await queueRevoked(c, operationNotice(operationFromRow(row), now), subscribers)));
  return queued;
}
