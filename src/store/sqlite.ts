import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { newSessionId } from "./session-id.js";
import type { ListQuery, NewSession, SessionRecord, Store, Termination, TerminateOutcome } from "./store.js";

interface Row {
  id: string;
  user_id: string;
  resource_owner: string;
  creation_date: number;
  change_date: number;
  sequence: bigint;
  expiration_date: number | null;
  metadata: string;
  token_hash: Buffer;
  terminated_at: number | null;
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
`;

/** The embedded default: one SQLite file in WAL mode, fsynced on every commit. */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private sequence: bigint;
  private readonly insert: Database.Statement;
  private readonly selectOne: Database.Statement<[string], Row>;
  private readonly terminate: Database.Statement;
  private readonly listAll: Database.Statement<[string, number], Row>;
  private readonly listByUser: Database.Statement<[string, string, number], Row>;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    // FULL: a commit in WAL mode survives power loss, not only a crash.
    this.db.pragma("synchronous = FULL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    this.db.defaultSafeIntegers(true);
    const max = this.db.prepare("SELECT MAX(sequence) AS s FROM sessions").get() as { s: bigint | null };
    this.sequence = max.s ?? 0n;
    this.insert = this.db.prepare(
      `INSERT INTO sessions (id, user_id, resource_owner, creation_date, change_date, sequence,
         expiration_date, metadata, token_hash)
       VALUES (@id, @user_id, @resource_owner, @creation_date, @change_date, @sequence,
         @expiration_date, @metadata, @token_hash)`,
    );
    this.selectOne = this.db.prepare("SELECT * FROM sessions WHERE id = ?");
    this.terminate = this.db.prepare(
      `UPDATE sessions SET terminated_at = @at, terminated_by = @by, termination_reason = @reason,
         termination_request_id = @request_id, change_date = @at, sequence = @sequence
       WHERE id = @id AND terminated_at IS NULL`,
    );
    // "~" sorts after every id character, so it stands for "no cursor".
    this.listAll = this.db.prepare("SELECT * FROM sessions WHERE id < ? ORDER BY id DESC LIMIT ?");
    this.listByUser = this.db.prepare(
      "SELECT * FROM sessions WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
    );
  }

  static open(dataDir: string): SqliteStore {
    mkdirSync(dataDir, { recursive: true });
    return new SqliteStore(join(dataDir, "sessions.db"));
  }

  async createSession(s: NewSession): Promise<SessionRecord> {
    const now = new Date();
    const sequence = ++this.sequence;
    const id = newSessionId(now);
    this.insert.run({
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
    return { id, ...s, creationDate: now, changeDate: now, sequence };
  }

  async getSession(id: string): Promise<SessionRecord | undefined> {
    const row = this.selectOne.get(id);
    return row && toRecord(row);
  }

  async listSessions(q: ListQuery): Promise<SessionRecord[]> {
    const before = q.beforeId ?? "~";
    const rows = q.userId === undefined ? this.listAll.all(before, q.limit) : this.listByUser.all(q.userId, before, q.limit);
    return rows.map(toRecord);
  }

  async terminateSession(id: string, t: Omit<Termination, "date">): Promise<TerminateOutcome | undefined> {
    const sequence = this.sequence + 1n;
    const changed = this.terminate.run({
      id,
      at: Date.now(),
      by: t.by,
      reason: t.reason,
      request_id: t.requestId,
      sequence,
    }).changes;
    if (changed > 0) this.sequence = sequence;
    const row = this.selectOne.get(id);
    return row && { session: toRecord(row), alreadyTerminated: changed === 0 };
  }

  /** A pragma's current value, for checks of how the file is kept. */
  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
  }

  async close(): Promise<void> {
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

function toRecord(r: Row): SessionRecord {
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
