import type pg from "pg";
import { byDue, deliveryFromRow, type DeliveryRow } from "./delivery-rows.js";
import { OutboxSubscribers } from "./outbox-notices.js";
import { STREAM_MAX_AGE_MS, streamIdOf, subscriberId, type ConfiguredSubscriber, type Delivery, type DeliveryOutcome, type DeliveryQuery, type Notice, type OutboxStore } from "./outbox-types.js";

/** Subscriber ids of streams, as SQL builds them from stream ids. */
const STREAM_PREFIX = subscriberId.stream("");

/** A statement's part that runs first, as a CTE (the termination's audit event), with its parameters. */
interface Before {
  sql: string;
  params: unknown[];
}

/**
 * Queues the notice for every subscriber of session-revoked notices (the configured receivers and
 * every stream not disabled that asked for it) in one statement, after `before` in the same one:
 * on the pool, that is one transaction. Nothing is written when no one subscribes. Answers the
 * subscribers given a delivery (to be told once the transaction commits).
 */
export async function queueRevoked(db: pg.Pool | pg.ClientBase, notice: Notice, subscribers: OutboxSubscribers, before?: Before): Promise<string[]> {
  const params = [...(before?.params ?? [])];
  const ids = params.push(subscribers.configured.map((s) => s.id));
  const ages = params.push(subscribers.configured.map((s) => s.maxAgeMs));
  const subscribing = `subscribers (id, max_age_ms) AS (
    SELECT * FROM unnest($${ids}::text[], $${ages}::bigint[])
    UNION ALL
    SELECT '${STREAM_PREFIX}' || stream_id, ${STREAM_MAX_AGE_MS}::bigint FROM ssf_streams WHERE status <> 'disabled' AND wants_session_revoked
  )`;
  return queue(db, `${before ? `${before.sql}, ` : ""}${subscribing}`, notice, params);
}

/** `WITH <ctes>` defining `subscribers (id, max_age_ms)`, then the notice and a delivery per subscriber; jti a random UUID, times the database's. */
async function queue(db: pg.Pool | pg.ClientBase, ctes: string, notice: Notice, params: unknown[]): Promise<string[]> {
  const n = params.push(JSON.stringify(notice));
  const { rows } = await db.query<{ subscriber: string }>(
    `WITH ${ctes}, notice AS (
       INSERT INTO outbox_notices (created_at, notice) SELECT now(), $${n}::jsonb WHERE EXISTS (SELECT 1 FROM subscribers) RETURNING id, created_at
     )
     INSERT INTO deliveries (notice_id, subscriber, jti, state, created_at, updated_at, next_attempt_at, expires_at)
     SELECT notice.id, s.id, gen_random_uuid()::text, 'pending', notice.created_at, notice.created_at, notice.created_at,
       notice.created_at + s.max_age_ms * interval '1 millisecond'
     FROM notice CROSS JOIN subscribers s
     RETURNING subscriber`,
    params,
  );
  return rows.map((r) => r.subscriber);
}

/** A deliveries row with its notice. */
const WITH_NOTICE = "d.*, n.notice";

/**
 * The outbox in PostgreSQL, shared by every replica. Notices of ends are written in the statement
 * or transaction of the end (queueRevoked); claims are rows locked with FOR UPDATE SKIP LOCKED and
 * leases on the database clock, so replicas never hold the same delivery at once.
 */
export class PostgresOutbox implements OutboxStore {
  /** Shared with the sessions, the audit trail and the operations, which write notices. */
  readonly subscribers = new OutboxSubscribers();

  constructor(private readonly pool: pg.Pool) {}

  setConfiguredSubscribers(subscribers: readonly ConfiguredSubscriber[]): void {
    this.subscribers.configured = subscribers;
  }

  onQueued(listener: (subscribers: readonly string[]) => void): void {
    this.subscribers.onQueued(listener);
  }

  async enqueue(notice: Notice, subscriber: string, maxAgeMs: number): Promise<void> {
    this.subscribers.queued(await queue(this.pool, "subscribers (id, max_age_ms) AS (SELECT $1::text, $2::bigint)", notice, [subscriber, maxAgeMs]));
  }

  async claimDeliveries(subscriber: string, worker: string, leaseMs: number, limit: number): Promise<Delivery[]> {
    // One statement: the due rows are locked (rows another worker is claiming right now are
    // skipped), re-checked against their latest version, then claimed.
    const { rows } = await this.pool.query<DeliveryRow>(
      `WITH due AS (
         SELECT id FROM deliveries
         WHERE subscriber = $1 AND state = 'pending' AND next_attempt_at <= now() AND expires_at > now()
           AND (claimed_until IS NULL OR claimed_until < now())
           AND NOT EXISTS (SELECT 1 FROM ssf_streams WHERE stream_id = $5::text AND status <> 'enabled')
         ORDER BY next_attempt_at, id
         LIMIT $4
         FOR UPDATE SKIP LOCKED
       )
       UPDATE deliveries d
       SET claimed_by = $2, claimed_until = now() + $3::double precision * interval '1 millisecond', attempts = d.attempts + 1, updated_at = now()
       FROM due, outbox_notices n
       WHERE d.id = due.id AND n.id = d.notice_id
       RETURNING ${WITH_NOTICE}`,
      [subscriber, worker, leaseMs, limit, streamIdOf(subscriber) ?? null],
    );
    return rows.map(deliveryFromRow).sort(byDue);
  }

  async completeDelivery(id: bigint, worker: string, outcome: DeliveryOutcome): Promise<void> {
    await this.pool.query(
      `UPDATE deliveries SET state = $2, last_error = $3, next_attempt_at = COALESCE($4::timestamptz, now()), updated_at = now(), claimed_by = NULL, claimed_until = NULL
       WHERE id = $1 AND state = 'pending' AND claimed_by = $5`,
      [id.toString(), outcome.state, outcome.lastError ? JSON.stringify(outcome.lastError) : null, outcome.nextAttemptAt ?? null, worker],
    );
  }

  async deleteFinishedBefore(cutoff: Date, limit: number): Promise<number> {
    const deliveries = await this.pool.query(
      "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE state <> 'pending' AND updated_at < $1 ORDER BY id LIMIT $2)",
      [cutoff, limit],
    );
    const gone = deliveries.rowCount ?? 0;
    const notices = await this.pool.query(
      `DELETE FROM outbox_notices WHERE id IN (
         SELECT id FROM outbox_notices n WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notice_id = n.id) ORDER BY id LIMIT $2)`,
      [cutoff, limit - gone],
    );
    return gone + (notices.rowCount ?? 0);
  }

  async expireDeliveries(now: Date): Promise<number> {
    const { rowCount } = await this.pool.query(
      `UPDATE deliveries SET state = 'expired', updated_at = $1, claimed_by = NULL, claimed_until = NULL
       WHERE state = 'pending' AND expires_at <= $1 AND (claimed_until IS NULL OR claimed_until < now())`,
      [now],
    );
    return rowCount ?? 0;
  }

  async listDeliveries(q: DeliveryQuery): Promise<Delivery[]> {
    const filters: string[] = [];
    const params: unknown[] = [];
    if (q.subscriber !== undefined) filters.push(`d.subscriber = $${params.push(q.subscriber)}`);
    if (q.state !== undefined) filters.push(`d.state = $${params.push(q.state)}`);
    if (q.beforeId !== undefined) filters.push(`d.id < $${params.push(q.beforeId.toString())}`);
    const where = filters.length > 0 ? `WHERE ${filters.join(" AND ")}` : "";
    const { rows } = await this.pool.query<DeliveryRow>(
      `SELECT ${WITH_NOTICE} FROM deliveries d JOIN outbox_notices n ON n.id = d.notice_id ${where} ORDER BY d.id DESC LIMIT $${params.push(q.limit)}`,
      params,
    );
    return rows.map(deliveryFromRow);
  }

  async pendingCounts(): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ subscriber: string; n: number }>("SELECT subscriber, count(*)::int AS n FROM deliveries WHERE state = 'pending' GROUP BY subscriber");
    return new Map(rows.map((r) => [r.subscriber, r.n]));
  }

  async dueSubscribers(): Promise<string[]> {
    const { rows } = await this.pool.query<{ subscriber: string }>(
      `SELECT DISTINCT d.subscriber FROM deliveries d
       WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND (d.claimed_until IS NULL OR d.claimed_until < now())
         AND NOT EXISTS (SELECT 1 FROM ssf_streams s WHERE '${STREAM_PREFIX}' || s.stream_id = d.subscriber AND s.status <> 'enabled')`,
    );
    return rows.map((r) => r.subscriber);
  }
}
