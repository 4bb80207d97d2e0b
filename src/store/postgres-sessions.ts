import type pg from "pg";
import type { OutboxSubscribers } from "./outbox-notices.js";
import { insertEvent } from "./postgres-audit.js";
import { newestFirst, transaction } from "./postgres-pool.js";
import { encodeMetadata, sessionFromRow, type SessionRow } from "./rows.js";
import { newSessionId } from "./session-id.js";
import { terminationEvent, type AuditTemplate, type ListQuery, type NewSession, type SessionRecord, type SessionStore, type Termination, type TerminateOutcome } from "./store.js";

/** The embedded store's sessions in PostgreSQL, shared by every replica; the sequence is the database's. */
export class PostgresSessions implements SessionStore {
  constructor(
    private readonly pool: pg.Pool,
    /** A first end's notice is written in its transaction; they hear of it after the commit. */
    private readonly subscribers: OutboxSubscribers,
  ) {}

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
    return rows[0] && sessionFromRow(rows[0]);
  }

  async listSessions(q: ListQuery): Promise<SessionRecord[]> {
    return (await newestFirst<SessionRow>(this.pool, "sessions", q)).map(sessionFromRow);
  }

  async terminateSession(id: string, t: Omit<Termination, "date">, audit?: AuditTemplate): Promise<TerminateOutcome | undefined> {
    // Replicas ending the same session at once: the row lock orders them, and the later one
    // re-checks `terminated_at IS NULL` against the first one's committed row, so it changes nothing.
    let queued: string[] = [];
    const result = await transaction(this.pool, async (client) => {
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
      if (ended.rows[0]) outcome = { session: sessionFromRow(ended.rows[0]), alreadyTerminated: false };
      else {
        const { rows } = await client.query<SessionRow>("SELECT * FROM sessions WHERE id = $1", [id]);
        outcome = rows[0] && { session: sessionFromRow(rows[0]), alreadyTerminated: true };
      }
      if (outcome && audit) queued = await insertEvent(client, terminationEvent(audit, outcome), this.subscribers);
      return outcome;
    });
    this.subscribers.queued(queued);
    return result;
  }
}
