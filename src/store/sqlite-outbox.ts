import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import { byDue, deliveryFromRow, type DeliveryRow } from "./delivery-rows.js";
import type { GroupCommit } from "./group-commit.js";
import type { OperationRecord } from "./operation-types.js";
import { announces, endedNotice, operationNotice, OutboxSubscribers } from "./outbox-notices.js";
import { STREAM_MAX_AGE_MS, streamIdOf, subscriberId, type ConfiguredSubscriber, type Delivery, type DeliveryOutcome, type DeliveryQuery, type Notice, type OutboxStore, type SessionRevokedNotice } from "./outbox-types.js";
import type { AuditEvent } from "./store.js";

/** Subscriber ids of streams, as SQL builds them from stream ids. */
const STREAM_PREFIX = subscriberId.stream("");

/** Voids the claims a stopped process left: one process owns the file. */
export function prepareOutbox(db: Database.Database): void {
  db.exec("UPDATE deliveries SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL");
}

/** The stream (not enabled) whose deliveries wait: `stream` is the stream id of the subscriber, or NULL. */
const STREAM_WAITS = "EXISTS (SELECT 1 FROM ssf_streams WHERE stream_id = @stream AND status <> 'enabled')";

/**
 * The outbox in the SQLite file. Notices of ends are written by the writes of the sessions, the
 * audit trail and the operations (announce*, in their transaction); claims are plain rows, as one
 * process owns the file.
 */
export class SqliteOutbox implements OutboxStore {
  private readonly subscribers = new OutboxSubscribers();
  /** Subscribers given deliveries by the writes of this batch, told on the next turn. */
  private readonly kicked = new Set<string>();
  private readonly s;
  private readonly listQueries = new Map<string, Database.Statement<unknown[], DeliveryRow>>();

  constructor(
    private readonly db: Database.Database,
    private readonly commits: GroupCommit,
  ) {
    this.s = {
      streams: db.prepare<[], { stream_id: string }>("SELECT stream_id FROM ssf_streams WHERE status <> 'disabled' AND wants_session_revoked"),
      insertNotice: db.prepare<[number, string]>("INSERT INTO outbox_notices (created_at, notice) VALUES (?, ?)"),
      insertDelivery: db.prepare(
        `INSERT INTO deliveries (notice_id, subscriber, jti, state, created_at, updated_at, next_attempt_at, expires_at)
         VALUES (@notice_id, @subscriber, @jti, 'pending', @now, @now, @now, @expires_at)`,
      ),
      // Its RETURNING subquery reads the notice with each claimed row.
      claim: db.prepare<[Record<string, unknown>], DeliveryRow>(
        `UPDATE deliveries SET claimed_by = @worker, claimed_until = @until, attempts = attempts + 1, updated_at = @now
         WHERE id IN (
           SELECT id FROM deliveries
           WHERE subscriber = @subscriber AND state = 'pending' AND next_attempt_at <= @now AND expires_at > @now
             AND (claimed_until IS NULL OR claimed_until < @now) AND NOT ${STREAM_WAITS}
           ORDER BY next_attempt_at, id LIMIT @limit)
         RETURNING *, (SELECT notice FROM outbox_notices n WHERE n.id = notice_id) AS notice`,
      ),
      complete: db.prepare(
        `UPDATE deliveries SET state = @state, last_error = @last_error, next_attempt_at = @next_attempt_at, updated_at = @now, claimed_by = NULL, claimed_until = NULL
         WHERE id = @id AND state = 'pending' AND claimed_by = @worker`,
      ),
      expire: db.prepare<[number, number, number]>(
        `UPDATE deliveries SET state = 'expired', updated_at = ?, claimed_by = NULL, claimed_until = NULL
         WHERE state = 'pending' AND expires_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)`,
      ),
      deleteFinished: db.prepare<[number, number]>(
        "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE state <> 'pending' AND updated_at < ? ORDER BY id LIMIT ?)",
      ),
      deleteBare: db.prepare<[number, number]>(
        `DELETE FROM outbox_notices WHERE id IN (
           SELECT id FROM outbox_notices n WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notice_id = n.id) ORDER BY id LIMIT ?)`,
      ),
      pending: db.prepare<[], { subscriber: string; n: bigint }>("SELECT subscriber, COUNT(*) AS n FROM deliveries WHERE state = 'pending' GROUP BY subscriber"),
      due: db.prepare<[number, number], { subscriber: string }>(
        `SELECT DISTINCT d.subscriber FROM deliveries d
         WHERE d.state = 'pending' AND d.next_attempt_at <= ? AND (d.claimed_until IS NULL OR d.claimed_until < ?)
           AND NOT EXISTS (SELECT 1 FROM ssf_streams s WHERE '${STREAM_PREFIX}' || s.stream_id = d.subscriber AND s.status <> 'enabled')`,
      ),
    };
  }

  setConfiguredSubscribers(subscribers: readonly ConfiguredSubscriber[]): void {
    this.subscribers.configured = subscribers;
  }

  onQueued(listener: (subscribers: readonly string[]) => void): void {
    this.subscribers.onQueued(listener);
  }

  /** In the running write: the notice of an announced end for every subscriber; nothing for any other event, or when no one subscribes. */
  announceEnd(event: AuditEvent): void {
    if (announces(event)) this.announce(() => endedNotice(event));
  }

  /** In the running write: the notice that the operation is done, for every subscriber. */
  announceDone(operation: OperationRecord, doneAt: Date): void {
    this.announce(() => operationNotice(operation, doneAt));
  }

  enqueue(notice: Notice, subscriber: string, maxAgeMs: number): Promise<void> {
    return this.commits.write(() => this.queue(notice, [{ id: subscriber, maxAgeMs }]));
  }

  claimDeliveries(subscriber: string, worker: string, leaseMs: number, limit: number): Promise<Delivery[]> {
    return this.commits.write(() => {
      const now = Date.now();
      const rows = this.s.claim.all({ worker, until: now + leaseMs, now, subscriber, stream: streamIdOf(subscriber) ?? null, limit });
      return rows.map(deliveryFromRow).sort(byDue);
    });
  }

  completeDelivery(id: bigint, worker: string, outcome: DeliveryOutcome): Promise<void> {
    return this.commits.write(() => {
      const now = Date.now();
      this.s.complete.run({
        id,
        state: outcome.state,
        last_error: outcome.lastError ? JSON.stringify(outcome.lastError) : null,
        next_attempt_at: outcome.nextAttemptAt?.getTime() ?? now,
        now,
        worker,
      });
    });
  }

  expireDeliveries(now: Date): Promise<number> {
    const at = now.getTime();
    return this.commits.write(() => this.s.expire.run(at, at, Date.now()).changes);
  }

  deleteFinishedBefore(cutoff: Date, limit: number): Promise<number> {
    const at = cutoff.getTime();
    return this.commits.write(() => {
      const deliveries = this.s.deleteFinished.run(at, limit).changes;
      return deliveries + this.s.deleteBare.run(at, limit - deliveries).changes;
    });
  }

  listDeliveries(q: DeliveryQuery): Promise<Delivery[]> {
    const filters: [string, unknown][] = [];
    if (q.subscriber !== undefined) filters.push(["d.subscriber = ?", q.subscriber]);
    if (q.state !== undefined) filters.push(["d.state = ?", q.state]);
    if (q.beforeId !== undefined) filters.push(["d.id < ?", q.beforeId]);
    const where = filters.map(([sql]) => sql).join(" AND ") || "1";
    // One prepared statement per combination of filters.
    let statement = this.listQueries.get(where);
    if (!statement) {
      statement = this.db.prepare(`SELECT d.*, n.notice FROM deliveries d JOIN outbox_notices n ON n.id = d.notice_id WHERE ${where} ORDER BY d.id DESC LIMIT ?`);
      this.listQueries.set(where, statement);
    }
    const query = statement;
    return this.commits.read(() => query.all(...filters.map(([, v]) => v), q.limit).map(deliveryFromRow));
  }

  pendingCounts(): Promise<Map<string, number>> {
    return this.commits.read(() => new Map(this.s.pending.all().map((r) => [r.subscriber, Number(r.n)])));
  }

  dueSubscribers(): Promise<string[]> {
    const now = Date.now();
    return this.commits.read(() => this.s.due.all(now, now).map((r) => r.subscriber));
  }

  /** The configured receivers and the streams that asked for session-revoked; the notice is built only when there is one. */
  private announce(notice: () => SessionRevokedNotice): void {
    const streams = this.s.streams.all();
    const configured = this.subscribers.configured;
    if (configured.length === 0 && streams.length === 0) return;
    this.queue(notice(), [...configured, ...streams.map((r) => ({ id: subscriberId.stream(r.stream_id), maxAgeMs: STREAM_MAX_AGE_MS }))]);
  }

  /** Writes the notice and one delivery per subscriber in the running write; the listeners hear of it on the turn after its commit. */
  private queue(notice: Notice, subscribers: readonly ConfiguredSubscriber[]): void {
    const now = Date.now();
    const noticeId = this.s.insertNotice.run(now, JSON.stringify(notice)).lastInsertRowid;
    for (const s of subscribers) {
      this.s.insertDelivery.run({ notice_id: noticeId, subscriber: s.id, jti: randomUUID(), now, expires_at: now + s.maxAgeMs });
      this.kick(s.id);
    }
  }

  /** The group commit commits the batch this write runs in before the next turn. */
  private kick(subscriber: string): void {
    if (this.kicked.size === 0) {
      setImmediate(() => {
        const subscribers = [...this.kicked];
        this.kicked.clear();
        this.subscribers.queued(subscribers);
      });
    }
    this.kicked.add(subscriber);
  }
}
