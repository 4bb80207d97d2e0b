/**
 * The outbox's tables in the SQLite file (src/store/outbox-types.ts): notices, their deliveries
 * (one per subscriber, written in the transaction of the termination), and SSF streams.
 */
export const OUTBOX_SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox_notices (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at INTEGER NOT NULL,
  notice TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  notice_id INTEGER NOT NULL REFERENCES outbox_notices (id),
  subscriber TEXT NOT NULL,
  jti TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_error TEXT,
  claimed_by TEXT,
  claimed_until INTEGER
);
CREATE INDEX IF NOT EXISTS deliveries_by_notice ON deliveries (notice_id);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (subscriber, state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_by_state ON deliveries (state, id);
CREATE INDEX IF NOT EXISTS deliveries_by_subscriber ON deliveries (subscriber, id);
CREATE TABLE IF NOT EXISTS ssf_streams (
  stream_id TEXT PRIMARY KEY,
  status TEXT NOT NULL,
  status_reason TEXT,
  wants_session_revoked INTEGER NOT NULL,
  config TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
`;
