import type Database from "better-sqlite3";
import type { GroupCommit } from "./group-commit.js";
import { encodeMetadata, sessionFromRow, type SessionRow } from "./rows.js";
import { newSessionId } from "./session-id.js";
import type { SqliteAudit } from "./sqlite-audit.js";
import { terminationEvent, type AuditTemplate, type ListQuery, type NewSession, type SessionRecord, type SessionStore, type Termination, type TerminateOutcome } from "./store.js";

/** The embedded store's sessions in the SQLite file; one process owns it, so the sequence is counted here. */
export class SqliteSessions implements SessionStore {
  private sequence: bigint;
  private readonly insertSession: Database.Statement;
  private readonly selectSession: Database.Statement<[string], SessionRow>;
  private readonly terminate: Database.Statement<[Record<string, unknown>], SessionRow>;
  private readonly listAll: Database.Statement<[string, number], SessionRow>;
  private readonly listByUser: Database.Statement<[string, string, number], SessionRow>;

  constructor(
    db: Database.Database,
    private readonly commits: GroupCommit,
    /** A termination's audit event is written in the same transaction. */
    private readonly audit: SqliteAudit,
  ) {
    const max = db.prepare("SELECT MAX(sequence) AS s FROM sessions").get() as { s: bigint | null };
    this.sequence = max.s ?? 0n;
    this.insertSession = db.prepare(
      `INSERT INTO sessions (id, user_id, resource_owner, creation_date, change_date, sequence,
         expiration_date, metadata, token_hash)
       VALUES (@id, @user_id, @resource_owner, @creation_date, @change_date, @sequence,
         @expiration_date, @metadata, @token_hash)`,
    );
    this.selectSession = db.prepare("SELECT * FROM sessions WHERE id = ?");
    // RETURNING: ending an active session is one statement that also reads the row back.
    this.terminate = db.prepare(
      `UPDATE sessions SET terminated_at = @at, terminated_by = @by, termination_reason = @reason,
         termination_request_id = @request_id, change_date = @at, sequence = @sequence
       WHERE id = @id AND terminated_at IS NULL
       RETURNING *`,
    );
    // "~" sorts after every id character, so it stands for "no cursor".
    this.listAll = db.prepare("SELECT * FROM sessions WHERE id < ? ORDER BY id DESC LIMIT ?");
    this.listByUser = db.prepare("SELECT * FROM sessions WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?");
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

  getSession(id: string): Promise<SessionRecord | undefined> {
    return this.commits.read(() => {
      const row = this.selectSession.get(id);
      return row && sessionFromRow(row);
    });
  }

  listSessions(q: ListQuery): Promise<SessionRecord[]> {
    const before = q.beforeId ?? "~";
    return this.commits.read(() => (q.userId === undefined ? this.listAll.all(before, q.limit) : this.listByUser.all(q.userId, before, q.limit)).map(sessionFromRow));
  }

  terminateSession(id: string, t: Omit<Termination, "date">, audit?: AuditTemplate): Promise<TerminateOutcome | undefined> {
    return this.commits.write(() => {
      const sequence = this.sequence + 1n;
      const ended = this.terminate.get({ id, at: Date.now(), by: t.by, reason: t.reason, request_id: t.requestId, sequence });
      if (ended) this.sequence = sequence;
      // Already ended (or unknown): the row as it is.
      const row = ended ?? this.selectSession.get(id);
      const outcome = row && { session: sessionFromRow(row), alreadyTerminated: !ended };
      if (outcome && audit) this.audit.insert(terminationEvent(audit, outcome));
      return outcome;
    });
  }
}
