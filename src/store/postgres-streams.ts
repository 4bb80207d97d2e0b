import type pg from "pg";
import { subscriberId } from "./outbox-types.js";
import { transaction } from "./postgres-pool.js";
import { streamFromRow, type StreamRow } from "./stream-rows.js";
import type { StreamChange, StreamRecord, StreamStore } from "./stream-types.js";

const DROP_PENDING = "UPDATE deliveries SET state = 'dropped', updated_at = now(), claimed_by = NULL, claimed_until = NULL WHERE subscriber = $1 AND state = 'pending'";

/** SSF streams in PostgreSQL, shared by every replica; a stream disabled or deleted has its pending deliveries dropped in the same transaction. */
export class PostgresStreams implements StreamStore {
  constructor(private readonly pool: pg.Pool) {}

  createStream(stream: StreamRecord, maxStreams: number): Promise<boolean> {
    return transaction(this.pool, async (c) => {
      // Replicas creating streams at once count one after the other.
      await c.query("SELECT pg_advisory_xact_lock(hashtext('session-control ssf_streams'))");
      const { rows } = await c.query<{ n: string }>("SELECT count(*) AS n FROM ssf_streams");
      if (Number(rows[0]!.n) >= maxStreams) return false;
      await c.query(
        `INSERT INTO ssf_streams (stream_id, status, status_reason, wants_session_revoked, config, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [stream.streamId, stream.status, stream.statusReason ?? null, stream.wantsSessionRevoked, JSON.stringify(stream.config), stream.createdAt, stream.updatedAt],
      );
      return true;
    });
  }

  async getStream(streamId: string): Promise<StreamRecord | undefined> {
    const { rows } = await this.pool.query<StreamRow>("SELECT * FROM ssf_streams WHERE stream_id = $1", [streamId]);
    return rows[0] && streamFromRow(rows[0]);
  }

  async listStreams(): Promise<StreamRecord[]> {
    const { rows } = await this.pool.query<StreamRow>("SELECT * FROM ssf_streams ORDER BY created_at, stream_id");
    return rows.map(streamFromRow);
  }

  changeStream(streamId: string, change: StreamChange): Promise<StreamRecord | undefined> {
    return transaction(this.pool, async (c) => {
      const { rows } =
        "config" in change
          ? await c.query<StreamRow>("UPDATE ssf_streams SET config = $1, wants_session_revoked = $2, updated_at = now() WHERE stream_id = $3 RETURNING *", [
              JSON.stringify(change.config),
              change.wantsSessionRevoked,
              streamId,
            ])
          : await c.query<StreamRow>("UPDATE ssf_streams SET status = $1, status_reason = $2, updated_at = now() WHERE stream_id = $3 RETURNING *", [
              change.status,
              change.statusReason ?? null,
              streamId,
            ]);
      if (!rows[0]) return undefined;
      if ("status" in change && change.status === "disabled") await c.query(DROP_PENDING, [subscriberId.stream(streamId)]);
      return streamFromRow(rows[0]);
    });
  }

  deleteStream(streamId: string): Promise<boolean> {
    return transaction(this.pool, async (c) => {
      const { rowCount } = await c.query("DELETE FROM ssf_streams WHERE stream_id = $1", [streamId]);
      if (!rowCount) return false;
      await c.query(DROP_PENDING, [subscriberId.stream(streamId)]);
      return true;
    });
  }
}
