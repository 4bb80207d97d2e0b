import type Database from "better-sqlite3";
import type { GroupCommit } from "./group-commit.js";
import type { NewOperation, OperationQuery, OperationRecord, OperationStore, WorkClaim, WorkItem, WorkOutcome } from "./operation-types.js";
import { isSet, itemFromRow, operationFromRow, type Flag, type ItemRow, type OperationRow } from "./rows.js";
import { newSessionId } from "./session-id.js";
import type { SqliteOutbox } from "./sqlite-outbox.js";

/** The operations table under a name (a file from before scoped request ids has its rows copied into a new one). */
const operationsTable = (name: string) => `
CREATE TABLE IF NOT EXISTS ${name} (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  request_id TEXT NOT NULL,
  principal TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  initiating_entity TEXT NOT NULL DEFAULT 'admin',
  UNIQUE (principal, request_id)
) WITHOUT ROWID;`;

const OPERATIONS_SCHEMA = `${operationsTable("operations")}
CREATE INDEX IF NOT EXISTS operations_by_user ON operations (user_id, id);
CREATE TABLE IF NOT EXISTS work_items (
  operation_id TEXT NOT NULL,
  provider TEXT NOT NULL,
  provider_user_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  session_id TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  sessions_ended INTEGER,
  claimed_by TEXT,
  claimed_until INTEGER,
  PRIMARY KEY (operation_id, provider, kind, session_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS work_items_due ON work_items (state, next_attempt_at);
`;

/** Files from before request ids were scoped held them unique across principals: the table is rebuilt with the pair unique. */
const SCOPE_OPERATION_REQUEST_IDS = `${operationsTable("operations_scoped")}
INSERT INTO operations_scoped (id, user_id, reason, request_id, principal, created_at, updated_at, expires_at, done)
  SELECT id, user_id, reason, request_id, principal, created_at, updated_at, expires_at, done FROM operations;
DROP TABLE operations;
ALTER TABLE operations_scoped RENAME TO operations;
CREATE INDEX operations_by_user ON operations (user_id, id);
`;

/**
 * Makes the operations tables (rebuilding those of files from before scoped request ids, adding who
 * started an operation to files from before the outbox: 'admin', as only session.delete could) and
 * voids the claims a stopped process left: one process owns the file.
 */
export function prepareOperations(db: Database.Database): void {
  db.exec(OPERATIONS_SCHEMA);
  const table = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'operations'").get() as { sql: string };
  if (/request_id TEXT NOT NULL UNIQUE/.test(table.sql)) db.transaction(() => db.exec(SCOPE_OPERATION_REQUEST_IDS)).immediate();
  const columns = db.prepare("SELECT name FROM pragma_table_info('operations')").all() as { name: string }[];
  if (!columns.some((c) => c.name === "initiating_entity")) db.exec("ALTER TABLE operations ADD COLUMN initiating_entity TEXT NOT NULL DEFAULT 'admin'");
  const itemColumns = db.prepare("SELECT name FROM pragma_table_info('work_items')").all() as { name: string }[];
  if (!itemColumns.some((c) => c.name === "sessions_ended")) db.exec("ALTER TABLE work_items ADD COLUMN sessions_ended INTEGER");
  db.exec("UPDATE work_items SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by IS NOT NULL");
}

/** Operations and their work items in the SQLite file; claims are plain rows, as one process owns the file. */
export class SqliteOperations implements OperationStore {
  private readonly s;

  constructor(
    db: Database.Database,
    private readonly commits: GroupCommit,
    /** The notice that an operation is done is written in the transaction that makes it so. */
    private readonly outbox: SqliteOutbox,
  ) {
    this.s = {
      opByRequest: db.prepare<[string, string], OperationRow>("SELECT * FROM operations WHERE principal = ? AND request_id = ?"),
      opById: db.prepare<[string], OperationRow>("SELECT * FROM operations WHERE id = ?"),
      insertOp: db.prepare(
        `INSERT INTO operations (id, user_id, reason, request_id, principal, created_at, updated_at, expires_at, initiating_entity)
         VALUES (@id, @user_id, @reason, @request_id, @principal, @now, @now, @expires_at, @initiating_entity)`,
      ),
      insertItem: db.prepare(
        `INSERT OR IGNORE INTO work_items (operation_id, provider, provider_user_id, kind, session_id, state, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?)`,
      ),
      items: db.prepare<[string], ItemRow>("SELECT * FROM work_items WHERE operation_id = ? ORDER BY provider, kind DESC, session_id"),
      listAll: db.prepare<[string, number], OperationRow>("SELECT * FROM operations WHERE id < ? ORDER BY id DESC LIMIT ?"),
      listByUser: db.prepare<[string, string, number], OperationRow>("SELECT * FROM operations WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?"),
      item: db.prepare<[string, string, string, string], ItemRow>("SELECT * FROM work_items WHERE operation_id = ? AND provider = ? AND kind = ? AND session_id = ?"),
      updateItem: db.prepare(
        `UPDATE work_items SET state = @state, last_error = @last_error, sessions_ended = @sessions_ended, next_attempt_at = @next_attempt_at, claimed_by = NULL, claimed_until = NULL
         WHERE operation_id = @operation_id AND provider = @provider AND kind = @kind AND session_id = @session_id`,
      ),
      wasDone: db.prepare<[string], { done: Flag }>("SELECT done FROM operations WHERE id = ?"),
      // Its RETURNING also says whether any work failed (an operation done that way announces nothing).
      touchOp: db.prepare<[number, string, string], OperationRow & { failed: Flag }>(
        `UPDATE operations SET updated_at = ?, done = NOT EXISTS (SELECT 1 FROM work_items WHERE operation_id = ? AND state = 'pending') WHERE id = ?
         RETURNING *, EXISTS (SELECT 1 FROM work_items WHERE operation_id = operations.id AND state = 'failed') AS failed`,
      ),
      due: db.prepare<[number, number, string | null, string | null, number], ItemRow>(
        `SELECT * FROM work_items WHERE state = 'pending' AND next_attempt_at <= ? AND (claimed_until IS NULL OR claimed_until < ?)
           AND (? IS NULL OR operation_id = ?) ORDER BY next_attempt_at LIMIT ?`,
      ),
      claim: db.prepare(
        `UPDATE work_items SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
         WHERE operation_id = ? AND provider = ? AND kind = ? AND session_id = ?`,
      ),
      expiredPending: db.prepare<[number], { id: string }>(
        "SELECT DISTINCT o.id AS id FROM operations o JOIN work_items w ON w.operation_id = o.id WHERE w.state = 'pending' AND o.expires_at < ?",
      ),
      expireItems: db.prepare("UPDATE work_items SET state = 'failed', last_error = ?, claimed_by = NULL, claimed_until = NULL WHERE operation_id = ? AND state = 'pending'"),
    };
  }

  createOperation(op: NewOperation): Promise<{ operation: OperationRecord; created: boolean }> {
    return this.commits.write(() => {
      // A request id is the principal's own: another principal's is a new id.
      const known = this.s.opByRequest.get(op.principal, op.requestId);
      if (known) return { operation: operationFromRow(known), created: false };
      const now = Date.now();
      const id = newSessionId(new Date(now));
      this.s.insertOp.run({
        id,
        user_id: op.userId,
        reason: op.reason,
        request_id: op.requestId,
        principal: op.principal,
        now,
        expires_at: op.expiresAt.getTime(),
        initiating_entity: op.initiatingEntity,
      });
      for (const p of op.providers) this.s.insertItem.run(id, p.provider, p.providerUserId, "list", "", now);
      return { operation: operationFromRow(this.s.opById.get(id)!), created: true };
    });
  }

  getOperation(id: string): Promise<{ operation: OperationRecord; items: WorkItem[] } | undefined> {
    return this.commits.read(() => {
      const row = this.s.opById.get(id);
      return row && { operation: operationFromRow(row), items: this.s.items.all(id).map(itemFromRow) };
    });
  }

  listOperations(q: OperationQuery): Promise<OperationRecord[]> {
    const before = q.beforeId ?? "~";
    return this.commits.read(() => (q.userId === undefined ? this.s.listAll.all(before, q.limit) : this.s.listByUser.all(q.userId, before, q.limit)).map(operationFromRow));
  }

  completeListing(operationId: string, provider: string, sessionIds: string[], listing: WorkOutcome = { state: "ended" }): Promise<void> {
    return this.commits.write(() => {
      const list = this.s.item.get(operationId, provider, "list", "");
      if (!list) throw new Error(`no listing of ${provider} in operation ${operationId}`);
      const now = Date.now();
      for (const id of sessionIds) this.s.insertItem.run(operationId, provider, list.provider_user_id, "end", id, now);
      this.update({ operationId, provider, kind: "list", sessionId: "" }, listing, now);
    });
  }

  completeWork(item: Pick<WorkItem, "operationId" | "provider" | "kind" | "sessionId">, outcome: WorkOutcome): Promise<void> {
    return this.commits.write(() => this.update(item, outcome, Date.now()));
  }

  claimWork(worker: string, leaseMs: number, limit: number, operationId?: string): Promise<WorkClaim[]> {
    return this.commits.write(() => {
      const now = Date.now();
      const rows = this.s.due.all(now, now, operationId ?? null, operationId ?? null, limit);
      return rows.map((r) => {
        this.s.claim.run(worker, now + leaseMs, r.operation_id, r.provider, r.kind, r.session_id);
        return { item: itemFromRow({ ...r, attempts: Number(r.attempts) + 1 }), operation: operationFromRow(this.s.opById.get(r.operation_id)!) };
      });
    });
  }

  expireWork(now: Date): Promise<number> {
    return this.commits.write(() => {
      const expired = this.s.expiredPending.all(now.getTime());
      const error = JSON.stringify({ code: "DEADLINE_EXCEEDED", reason: "OPERATION_EXPIRED", message: "the operation's maximum age passed before this work succeeded" });
      for (const { id } of expired) {
        this.s.expireItems.run(error, id);
        this.touch(id, now.getTime());
      }
      return expired.length;
    });
  }

  private update(item: Pick<WorkItem, "operationId" | "provider" | "kind" | "sessionId">, outcome: WorkOutcome, now: number): void {
    this.s.updateItem.run({
      operation_id: item.operationId,
      provider: item.provider,
      kind: item.kind,
      session_id: item.sessionId,
      state: outcome.state,
      last_error: outcome.lastError ? JSON.stringify(outcome.lastError) : null,
      sessions_ended: outcome.sessionsEnded ?? null,
      next_attempt_at: outcome.nextAttemptAt?.getTime() ?? now,
    });
    this.touch(item.operationId, now);
  }

  /**
   * Sets updated_at, and done when nothing is pending; an operation that became done with every
   * session ended announces it (one that failed somewhere did not end all of the user's sessions).
   */
  private touch(operationId: string, now: number): void {
    const wasDone = isSet(this.s.wasDone.get(operationId)!.done);
    const row = this.s.touchOp.get(now, operationId, operationId)!;
    const operation = operationFromRow(row);
    if (operation.done && !wasDone && !isSet(row.failed)) this.outbox.announceDone(operation, new Date(now));
  }
}
