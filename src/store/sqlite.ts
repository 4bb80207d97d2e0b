import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { attempt, privateDataDir, privateFile } from "./data-dir.js";
import { GroupCommit } from "./group-commit.js";
import { newSessionId } from "./session-id.js";
import { eventFromRow, eventToRow, type EventRow } from "./sqlite-events.js";
import { SqliteOperations } from "./sqlite-operations.js";
import type { NewOperation, OperationQuery, OperationRecord, WorkClaim, WorkItem, WorkOutcome } from "./operation-types.js";
import { terminationEvent, type AuditEvent, type AuditTemplate, type EventQuery, type ListedEvent, type ListQuery, type NewSession, type SessionRecord, type Store, type Termination, type TerminateOutcome } from "./store.js";

interface SessionRow {
  id: string;
  user_id: string;
  resource_owner: string;
  creation_date: bigint;
  change_date: bigint;
  sequence: bigint;
  expiration_date: bigint | null;
  metadata: string;
  token_hash: Buffer;
  terminated_at: bigint | null;
  terminated_by: string | null;
  termination_reason: string | null;
  termination_request_id: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  resource_owner TEXT NOT NULL,
  creation_date INTEGER NOT NULL,
  change_date INTEGER NOT NULL,
  sequence INTEGER NOT NULL,
  expiration_date INTEGER,
  metadata TEXT NOT NULL,
  token_hash BLOB NOT NULL,
  terminated_at INTEGER,
  terminated_by TEXT,
  termination_reason TEXT,
  termination_request_id TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, id);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  principal TEXT NOT NULL,
  provider TEXT NOT NULL,
  session_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  code TEXT NOT NULL,
  already_terminated INTEGER NOT NULL,
  details TEXT,
  error TEXT,
  operation_id TEXT,
  request_scope TEXT
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (user_id, id);
CREATE INDEX IF NOT EXISTS events_by_principal ON events (principal, id);
CREATE TABLE IF NOT EXISTS totp_steps (
  principal TEXT NOT NULL,
  step INTEGER NOT NULL,
  PRIMARY KEY (principal, step)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_session ON events (provider, session_id, code);
CREATE INDEX IF NOT EXISTS events_by_time ON events (time);
CREATE TABLE IF NOT EXISTS service_secrets (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;
`;

/**
 * Files from before request ids were scoped: each event gets the scope its request id was used in
 * (its operation's, else its principal's), refusals none, as they are never replayed.
 */
const SCOPE_REQUEST_IDS = `
ALTER TABLE events ADD COLUMN request_scope TEXT;
UPDATE events SET request_scope = CASE WHEN operation_id IS NOT NULL THEN 'operation:' || operation_id ELSE 'principal:' || principal END
  WHERE code NOT IN ('UNAUTHENTICATED', 'PERMISSION_DENIED', 'INVALID_ARGUMENT');
DROP INDEX IF EXISTS events_by_request;
`;

/** The embedded default: one SQLite file in WAL mode, fsynced on every commit, commits grouped. */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly commits: GroupCommit;
  private sequence: bigint;
  private readonly insertSession: Database.Statement;
  private readonly selectSession: Database.Statement<[string], SessionRow>;
  private readonly terminate: Database.Statement<[Record<string, unknown>], SessionRow>;
  private readonly listAll: Database.Statement<[string, number], SessionRow>;
  private readonly listByUser: Database.Statement<[string, string, number], SessionRow>;
  private readonly insertEvent: Database.Statement;
  private readonly eventByRequest: Database.Statement<[string, string], EventRow>;
  private readonly insertSecret: Database.Statement<[string, Buffer]>;
  private readonly selectSecret: Database.Statement<[string], { value: Buffer }>;
  private readonly terminationEvent: Database.Statement<[string, string], EventRow>;
  private readonly deleteOldEvents: Database.Statement<[number, number]>;
  private readonly useStep: Database.Statement;
  private readonly pruneSteps: Database.Statement;
  private readonly eventQueries = new Map<string, Database.Statement<unknown[], EventRow & { id: bigint }>>();
  private readonly operations: SqliteOperations;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    // FULL: a commit in WAL mode survives power loss, not only a crash.
    this.db.pragma("synchronous = FULL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    const columns = this.db.prepare("SELECT name FROM pragma_table_info('events')").all() as { name: string }[];
    if (!columns.some((c) => c.name === "request_scope")) this.db.transaction(() => this.db.exec(SCOPE_REQUEST_IDS)).immediate();
    this.db.exec("CREATE INDEX IF NOT EXISTS events_by_request_scope ON events (request_scope, request_id, id)");
    this.db.defaultSafeIntegers(true);
    const max = this.db.prepare("SELECT MAX(sequence) AS s FROM sessions").get() as { s: bigint | null };
    this.sequence = max.s ?? 0n;
    this.commits = new GroupCommit(this.db);
    this.operations = new SqliteOperations(this.db, this.commits);
    this.useStep = this.db.prepare("INSERT OR IGNORE INTO totp_steps (principal, step) VALUES (?, ?)");
    this.pruneSteps = this.db.prepare("DELETE FROM totp_steps WHERE principal = ? AND step < ?");
    this.insertSession = this.db.prepare(
      `INSERT INTO sessions (id, user_id, resource_owner, creation_date, change_date, sequence,
         expiration_date, metadata, token_hash)
       VALUES (@id, @user_id, @resource_owner, @creation_date, @change_date, @sequence,
         @expiration_date, @metadata, @token_hash)`,
    );
    this.selectSession = this.db.prepare("SELECT * FROM sessions WHERE id = ?");
    // RETURNING: ending an active session is one statement that also reads the row back.
    this.terminate = this.db.prepare(
      `UPDATE sessions SET terminated_at = @at, terminated_by = @by, termination_reason = @reason,
         termination_request_id = @request_id, change_date = @at, sequence = @sequence
       WHERE id = @id AND terminated_at IS NULL
       RETURNING *`,
    );
    // "~" sorts after every id character, so it stands for "no cursor".
    this.listAll = this.db.prepare("SELECT * FROM sessions WHERE id < ? ORDER BY id DESC LIMIT ?");
    this.listByUser = this.db.prepare("SELECT * FROM sessions WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?");
    this.insertEvent = this.db.prepare(
      `INSERT INTO events (time, principal, provider, session_id, user_id, request_id, reason, code, already_terminated, details, error, operation_id, request_scope)
       VALUES (@time, @principal, @provider, @session_id, @user_id, @request_id, @reason, @code, @already_terminated, @details, @error, @operation_id, @request_scope)`,
    );
    this.eventByRequest = this.db.prepare("SELECT * FROM events WHERE request_scope = ? AND request_id = ? ORDER BY id DESC LIMIT 1");
    this.insertSecret = this.db.prepare("INSERT OR IGNORE INTO service_secrets (name, value) VALUES (?, ?)");
    this.selectSecret = this.db.prepare("SELECT value FROM service_secrets WHERE name = ?");
    this.deleteOldEvents = this.db.prepare("DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ? ORDER BY time LIMIT ?)");
    this.terminationEvent = this.db.prepare("SELECT * FROM events WHERE provider = ? AND session_id = ? AND code = 'OK' ORDER BY id LIMIT 1");
  }

  /** Opens `<dataDir>/sessions.db`; the directory is made 0700 and the files 0600. Throws DataDirError when they are unusable. */
  static open(dataDir: string): SqliteStore {
    privateDataDir(dataDir);
    const file = join(dataDir, "sessions.db");
    // SQLite gives the -wal and -shm files the database file's mode, so that file is 0600 before it opens.
    privateFile(file, true);
    privateFile(`${file}-wal`, false);
    privateFile(`${file}-shm`, false);
    return attempt(file, () => new SqliteStore(file));
  }

  createSession(s: NewSession): Promise<SessionRecord> {
    return this.commits.write(() => {
      const now = new Date();
      const sequence = this.sequence + 1n;
      const id = newSessionId(now);
      this.insertSession.run({
        id,
        user_id: s.userId,
        resource_owner: s.resourceOwner,
        creation_date: now.getTime(),
        change_date: now.getTime(),
        sequence,
        expiration_date: s.expirationDate?.getTime() ?? null,
        metadata: encodeMetadata(s.metadata),
        token_hash: Buffer.from(s.tokenHash),
      });
      this.sequence = sequence;
      return { id, ...s, creationDate: now, changeDate: now, sequence };
    });
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = this.selectSession.get(id);
    return row && toRecord(row);
  }

  async listSessions(q: ListQuery): Promise<SessionRecord[]> {
    const before = q.beforeId ?? "~";
    const rows = q.userId === undefined ? this.listAll.all(before, q.limit) : this.listByUser.all(q.userId, before, q.limit);
    return rows.map(toRecord);
  }

  terminateSession(id: string, t: Omit<Termination, "date">, audit?: AuditTemplate): Promise<TerminateOutcome | undefined> {
    return this.commits.write(() => {
      const sequence = this.sequence + 1n;
      const ended = this.terminate.get({ id, at: Date.now(), by: t.by, reason: t.reason, request_id: t.requestId, sequence });
      if (ended) this.sequence = sequence;
      // Already ended (or unknown): the row as it is.
      const row = ended ?? this.selectSession.get(id);
      const outcome = row && { session: toRecord(row), alreadyTerminated: !ended };
      if (outcome && audit) this.insertEvent.run(eventToRow(terminationEvent(audit, outcome)));
      return outcome;
    });
  }

  recordEvent(event: AuditEvent): Promise<void> {
    return this.commits.write(() => {
      this.insertEvent.run(eventToRow(event));
    });
  }

  async findEventByRequestId(scope: string, requestId: string): Promise<AuditEvent | undefined> {
    const row = this.eventByRequest.get(scope, requestId);
    return row && eventFromRow(row);
  }

  async findTermination(provider: string, sessionId: string): Promise<AuditEvent | undefined> {
    const row = this.terminationEvent.get(provider, sessionId);
    return row && eventFromRow(row);
  }

  async listEvents(q: EventQuery): Promise<ListedEvent[]> {
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
    return statement.all(...filters.map(([, v]) => v), q.limit).map((r) => ({ ...eventFromRow(r), id: BigInt(r.id) }));
  }

  deleteEventsBefore(cutoff: Date, limit: number): Promise<number> {
    return this.commits.write(() => this.deleteOldEvents.run(cutoff.getTime(), limit).changes);
  }

  useTotpStep(principal: string, step: number): Promise<boolean> {
    return this.commits.write(() => {
      // Steps older than the window cannot be presented again; their rows are dropped.
      this.pruneSteps.run(principal, step - 10);
      return this.useStep.run(principal, step).changes > 0;
    });
  }

  serviceSecret(name: string): Promise<Buffer> {
    return this.commits.write(() => {
      this.insertSecret.run(name, randomBytes(32));
      return Buffer.from(this.selectSecret.get(name)!.value);
    });
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

  /** A pragma's current value, for checks of how the file is kept. */
  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
  }

  async close(): Promise<void> {
    await this.commits.drain();
    this.db.close();
  }
}

function encodeMetadata(m: Record<string, Uint8Array>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Buffer.from(v).toString("base64")])));
}

function decodeMetadata(json: string): Record<string, Uint8Array> {
  const raw = JSON.parse(json) as Record<string, string>;
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, "base64"))]));
}

function toRecord(r: SessionRow): SessionRecord {
  const record: SessionRecord = {
    id: r.id,
    userId: r.user_id,
    resourceOwner: r.resource_owner,
    creationDate: new Date(Number(r.creation_date)),
    changeDate: new Date(Number(r.change_date)),
    sequence: BigInt(r.sequence),
    metadata: decodeMetadata(r.metadata),
    tokenHash: new Uint8Array(r.token_hash),
  };
  if (r.expiration_date !== null) record.expirationDate = new Date(Number(r.expiration_date));
  if (r.terminated_at !== null) {
    record.termination = {
      date: new Date(Number(r.terminated_at)),
      by: r.terminated_by ?? "",
      reason: r.termination_reason ?? "",
      requestId: r.termination_request_id ?? "",
    };
  }
  return record;
}
