import type Database from "better-sqlite3";
import type { GroupCommit } from "./group-commit.js";
import { eventFromRow, eventToRow, type EventRow } from "./rows.js";
import type { SqliteOutbox } from "./sqlite-outbox.js";
import type { AuditEvent, AuditStore, EventQuery, ListedEvent } from "./store.js";

/** The audit trail in the SQLite file. */
export class SqliteAudit implements AuditStore {
  private readonly insertEvent: Database.Statement;
  private readonly eventByRequest: Database.Statement<[string, string], EventRow>;
  private readonly terminationEvent: Database.Statement<[string, string], EventRow>;
  private readonly deleteOldEvents: Database.Statement<[number, number]>;
  private readonly eventQueries = new Map<string, Database.Statement<unknown[], EventRow & { id: bigint }>>();

  constructor(
    private readonly db: Database.Database,
    private readonly commits: GroupCommit,
    /** An announced end's notice is written with its event. */
    private readonly outbox: SqliteOutbox,
  ) {
    this.insertEvent = db.prepare(
      `INSERT INTO events (time, principal, provider, session_id, user_id, request_id, reason, code, already_terminated, details, error, operation_id, request_scope)
       VALUES (@time, @principal, @provider, @session_id, @user_id, @request_id, @reason, @code, @already_terminated, @details, @error, @operation_id, @request_scope)`,
    );
    this.eventByRequest = db.prepare("SELECT * FROM events WHERE request_scope = ? AND request_id = ? ORDER BY id DESC LIMIT 1");
    this.terminationEvent = db.prepare("SELECT * FROM events WHERE provider = ? AND session_id = ? AND code = 'OK' ORDER BY id LIMIT 1");
    this.deleteOldEvents = db.prepare("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ? ORDER BY time LIMIT ?)");
  }

  /** Writes the event, and the notice of an announced end, in the transaction running now (a write of the group commit). */
  insert(event: AuditEvent): void {
    this.insertEvent.run(eventToRow(event));
    this.outbox.announceEnd(event);
  }

  recordEvent(event: AuditEvent): Promise<void> {
    return this.commits.write(() => this.insert(event));
  }

  findEventByRequestId(scope: string, requestId: string): Promise<AuditEvent | undefined> {
    return this.commits.read(() => {
      const row = this.eventByRequest.get(scope, requestId);
      return row && eventFromRow(row);
    });
  }

  findTermination(provider: string, sessionId: string): Promise<AuditEvent | undefined> {
    return this.commits.read(() => {
      const row = this.terminationEvent.get(provider, sessionId);
      return row && eventFromRow(row);
    });
  }

  listEvents(q: EventQuery): Promise<ListedEvent[]> {
    const filters: [string, unknown][] = [];
    if (q.userId !== undefined) filters.push(["user_id = ?", q.userId]);
    if (q.sessionId !== undefined) filters.push(["session_id = ?", q.sessionId]);
    if (q.principal !== undefined) filters.push(["principal = ?", q.principal]);
    if (q.provider !== undefined) filters.push(["provider = ?", q.provider]);
    if (q.from !== undefined) filters.push(["time >= ?", q.from.getTime()]);
    if (q.to !== undefined) filters.push(["time < ?", q.to.getTime()]);
    if (q.beforeId !== undefined) filters.push(["id < ?", q.beforeId]);
    const where = filters.map(([sql]) => sql).join(" AND ") || "1";
    // One prepared statement per combination of filters.
    let statement = this.eventQueries.get(where);
    if (!statement) {
      statement = this.db.prepare(`SELECT * FROM events WHERE ${where} ORDER BY id DESC LIMIT ?`);
      this.eventQueries.set(where, statement);
    }
    const query = statement;
    return this.commits.read(() => query.all(...filters.map(([, v]) => v), q.limit).map((r) => ({ ...eventFromRow(r), id: BigInt(r.id) })));
  }

  deleteEventsBefore(cutoff: Date, limit: number): Promise<number> {
    return this.commits.write(() => this.deleteOldEvents.run(cutoff.getTime(), limit).changes);
  }
}
