import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import { attempt, privateDataDir, privateFile } from "./data-dir.js";
import { GroupCommit, walFiles, type WalFiles } from "./group-commit.js";
import { LINK_SCHEMA, SqliteLinks } from "./sqlite-links.js";
import { prepareOutbox, SqliteOutbox } from "./sqlite-outbox.js";
import { OUTBOX_SCHEMA } from "./sqlite-outbox-schema.js";
import { SqliteAudit } from "./sqlite-audit.js";
import { prepareOperations, SqliteOperations } from "./sqlite-operations.js";
import { SqliteServiceState } from "./sqlite-service-state.js";
import { SqliteSessions } from "./sqlite-sessions.js";
import { SqliteStreams } from "./sqlite-streams.js";
import { SigningKeyFile } from "./signing-key-file.js";
import type { Stores } from "./store.js";

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
CREATE TABLE IF NOT EXISTS seen_tokens (
  issuer TEXT NOT NULL,
  jti TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (issuer, jti)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_tokens_by_expiry ON seen_tokens (expires_at);
CREATE TABLE IF NOT EXISTS service_secrets (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL
) WITHOUT ROWID;
${OUTBOX_SCHEMA}${LINK_SCHEMA}`;

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

/**
 * The embedded default: one SQLite file in WAL mode, one connection shared by the parts, their
 * writes grouped into commits (a turn's, or 16 at once under load), made durable off the event loop (see
 * GroupCommit for how, and why that survives power loss).
 */
export class SqliteStores implements Stores {
  readonly sessions: SqliteSessions;
  readonly audit: SqliteAudit;
  readonly operations: SqliteOperations;
  readonly totpSteps: SqliteServiceState;
  readonly seenTokens: SqliteServiceState;
  readonly secrets: SqliteServiceState;
  readonly outbox: SqliteOutbox;
  readonly signingKeys: SigningKeyFile;
  readonly streams: SqliteStreams;
  readonly links: SqliteLinks;
  private readonly db: Database.Database;
  private readonly files: WalFiles;
  private readonly commits: GroupCommit;
  private closed: Promise<void> | undefined;

  private constructor(file: string, options: SqliteOptions) {
    this.db = new Database(file);
    try {
      this.db.pragma("journal_mode = WAL");
      // The schema's commits at open are synced by SQLite itself; the group commit takes the syncs over after them.
      this.db.pragma("synchronous = FULL");
      this.db.pragma("busy_timeout = 5000");
      this.db.exec(SCHEMA);
      const columns = this.db.prepare("SELECT name FROM pragma_table_info('events')").all() as { name: string }[];
      if (!columns.some((c) => c.name === "request_scope")) this.db.transaction(() => this.db.exec(SCOPE_REQUEST_IDS)).immediate();
      this.db.exec("CREATE INDEX IF NOT EXISTS events_by_request_scope ON events (request_scope, request_id, id)");
      prepareOperations(this.db);
      prepareOutbox(this.db);
      this.db.defaultSafeIntegers(true);
      this.files = walFiles(file);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.commits = new GroupCommit(this.db, {
      files: this.files,
      ...(options.checkpointBytes !== undefined && { checkpointBytes: options.checkpointBytes }),
      ...(options.onSyncFailure && { onSyncFailure: options.onSyncFailure }),
    });
    this.outbox = new SqliteOutbox(this.db, this.commits);
    this.audit = new SqliteAudit(this.db, this.commits, this.outbox);
    this.sessions = new SqliteSessions(this.db, this.commits, this.audit);
    this.operations = new SqliteOperations(this.db, this.commits, this.outbox);
    this.totpSteps = this.seenTokens = this.secrets = new SqliteServiceState(this.db, this.commits);
    this.signingKeys = new SigningKeyFile(join(dirname(file), "signing-key.pem"));
    this.streams = new SqliteStreams(this.db, this.commits);
    this.links = new SqliteLinks(this.db, this.commits);
  }

  /** Opens `<dataDir>/sessions.db`; the directory is made 0700 and the files 0600. Throws DataDirError when they are unusable. */
  static open(dataDir: string, options: SqliteOptions = {}): SqliteStores {
    privateDataDir(dataDir);
    const file = join(dataDir, "sessions.db");
    // SQLite gives the -wal and -shm files the database file's mode, so that file is 0600 before it opens.
    privateFile(file, true);
    privateFile(`${file}-wal`, false);
    privateFile(`${file}-shm`, false);
    return attempt(file, () => new SqliteStores(file, options));
  }

  /** A pragma's current value, for checks of how the file is kept. */
  pragma(name: string): unknown {
    return this.db.pragma(name, { simple: true });
  }

  /**
   * Every queued write committed and synced first; then synchronous = FULL, so that SQLite's
   * checkpoint at close syncs the database file before it deletes the -wal file.
   */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.commits.close();
      this.db.pragma("synchronous = FULL");
      this.db.close();
      this.files.close();
    })();
    return this.closed;
  }
}

export interface SqliteOptions {
  /** Checkpoint once the WAL holds this many bytes (GroupCommit's default when absent). */
  checkpointBytes?: number;
  /** Told once when making commits durable failed (the store then refuses every call). */
  onSyncFailure?: (err: Error) => void;
}
