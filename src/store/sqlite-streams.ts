import type Database from "better-sqlite3";
import type { GroupCommit } from "./group-commit.js";
import { subscriberId } from "./outbox-types.js";
import { streamFromRow, type StreamRow } from "./stream-rows.js";
import type { StreamChange, StreamRecord, StreamStore } from "./stream-types.js";

/** SSF streams in the SQLite file; a stream disabled or deleted has its pending deliveries dropped in the same commit. */
export class SqliteStreams implements StreamStore {
  private readonly s;

  constructor(
    db: Database.Database,
    private readonly commits: GroupCommit,
  ) {
    this.s = {
      count: db.prepare<[], { n: bigint }>("SELECT count(*) AS n FROM ssf_streams"),
      insert: db.prepare(
        `INSERT INTO ssf_streams (stream_id, status, status_reason, wants_session_revoked, config, created_at, updated_at)
         VALUES (@stream_id, @status, @status_reason, @wants, @config, @created_at, @updated_at)`,
      ),
      get: db.prepare<[string], StreamRow>("SELECT * FROM ssf_streams WHERE stream_id = ?"),
      all: db.prepare<[], StreamRow>("SELECT * FROM ssf_streams ORDER BY created_at, stream_id"),
      setConfig: db.prepare<[string, number, number, string], StreamRow>("UPDATE ssf_streams SET config = ?, wants_session_revoked = ?, updated_at = ? WHERE stream_id = ? RETURNING *"),
      setStatus: db.prepare<[string, string | null, number, string], StreamRow>("UPDATE ssf_streams SET status = ?, status_reason = ?, updated_at = ? WHERE stream_id = ? RETURNING *"),
      delete: db.prepare<[string]>("DELETE FROM ssf_streams WHERE stream_id = ?"),
      drop: db.prepare<[number, string]>(
        "UPDATE deliveries SET state = 'dropped', updated_at = ?, claimed_by = NULL, claimed_until = NULL WHERE subscriber = ? AND state = 'pending'",
      ),
    };
  }

  createStream(stream: StreamRecord, maxStreams: number): Promise<boolean> {
    return this.commits.write(() => {
      if (Number(this.s.count.get()!.n) >= maxStreams) return false;
      this.s.insert.run({
        stream_id: stream.streamId,
        status: stream.status,
        status_reason: stream.statusReason ?? null,
        wants: stream.wantsSessionRevoked ? 1 : 0,
        config: JSON.stringify(stream.config),
        created_at: stream.createdAt.getTime(),
        updated_at: stream.updatedAt.getTime(),
      });
      return true;
    });
  }

  getStream(streamId: string): Promise<StreamRecord | undefined> {
    return this.commits.read(() => {
      const row = this.s.get.get(streamId);
      return row && streamFromRow(row);
    });
  }

  listStreams(): Promise<StreamRecord[]> {
    return this.commits.read(() => this.s.all.all().map(streamFromRow));
  }

  changeStream(streamId: string, change: StreamChange): Promise<StreamRecord | undefined> {
    return this.commits.write(() => {
      const now = Date.now();
      const row =
        "config" in change
          ? this.s.setConfig.get(JSON.stringify(change.config), change.wantsSessionRevoked ? 1 : 0, now, streamId)
          : this.s.setStatus.get(change.status, change.statusReason ?? null, now, streamId);
      if (!row) return undefined;
      if ("status" in change && change.status === "disabled") this.s.drop.run(now, subscriberId.stream(streamId));
      return streamFromRow(row);
    });
  }

  deleteStream(streamId: string): Promise<boolean> {
    return this.commits.write(() => {
      if (this.s.delete.run(streamId).changes === 0) return false;
      this.s.drop.run(Date.now(), subscriberId.stream(streamId));
      return true;
    });
  }
}
