import { isSet, parsed, toDate, type Flag, type Time } from "./rows.js";
import type { StoredStreamConfig, StreamRecord, StreamStatus } from "./stream-types.js";

/** An ssf_streams row as either database gives it back (src/store/rows.ts). */
export interface StreamRow {
  stream_id: string;
  status: string;
  status_reason: string | null;
  wants_session_revoked: Flag;
  config: string | StoredStreamConfig;
  created_at: Time;
  updated_at: Time;
}

export function streamFromRow(r: StreamRow): StreamRecord {
  return {
    streamId: r.stream_id,
    status: r.status as StreamStatus,
    ...(r.status_reason !== null && { statusReason: r.status_reason }),
    wantsSessionRevoked: isSet(r.wants_session_revoked),
    config: parsed<StoredStreamConfig>(r.config),
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
  };
}
