import type pg from "pg";

/** One step of the PostgreSQL schema; applied once, in order, and recorded in schema_migrations. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/*
 * Conventions (the same semantics as the SQLite store):
 * - Ids and the key columns used for ordering and keyset paging are COLLATE "C", so they sort
 *   byte by byte as in SQLite, whatever the database's default collation.
 * - Times are timestamptz. Session, event and operation times come from the service's clock
 *   (as in SQLite); due times and claims of work use the database clock, now(), so that
 *   replicas with skewed clocks agree on when a claim lapses.
 * - Session sequences come from one SEQUENCE, shared by every replica.
 *
 * Never edit a migration that may have run somewhere: add a new one at the end.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "sessions",
    sql: `
CREATE SEQUENCE session_sequence AS bigint;
CREATE TABLE sessions (
  id text COLLATE "C" PRIMARY KEY,
  user_id text NOT NULL,
  resource_owner text NOT NULL,
  creation_date timestamptz NOT NULL,
  change_date timestamptz NOT NULL,
  sequence bigint NOT NULL,
  expiration_date timestamptz,
  -- name -> base64 of the value, as in SQLite
  metadata jsonb NOT NULL,
  token_hash bytea NOT NULL,
  terminated_at timestamptz,
  terminated_by text,
  termination_reason text,
  termination_request_id text
);
CREATE INDEX sessions_by_user ON sessions (user_id, id);
`,
  },
  {
    version: 2,
    name: "events",
    sql: `
CREATE TABLE events (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time timestamptz NOT NULL,
  principal text NOT NULL,
  provider text NOT NULL,
  session_id text NOT NULL,
  user_id text NOT NULL,
  request_id text NOT NULL,
  reason text NOT NULL,
  code text NOT NULL,
  already_terminated boolean NOT NULL,
  details jsonb,
  error jsonb,
  operation_id text
);
CREATE INDEX events_by_request ON events (request_id, id);
CREATE INDEX events_terminations ON events (provider, session_id, id) WHERE code = 'OK';
CREATE INDEX events_by_session ON events (session_id, id);
CREATE INDEX events_by_user ON events (user_id, id);
CREATE INDEX events_by_principal ON events (principal, id);
`,
  },
  {
    version: 3,
    name: "totp_steps",
    sql: `
CREATE TABLE totp_steps (
  principal text NOT NULL,
  step bigint NOT NULL,
  PRIMARY KEY (principal, step)
);
`,
  },
  {
    version: 4,
    name: "operations",
    sql: `
CREATE TABLE operations (
  id text COLLATE "C" PRIMARY KEY,
  user_id text NOT NULL,
  reason text NOT NULL,
  request_id text NOT NULL UNIQUE,
  principal text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  done boolean NOT NULL DEFAULT false
);
CREATE INDEX operations_by_user ON operations (user_id, id);
CREATE INDEX operations_open ON operations (expires_at) WHERE NOT done;
CREATE TABLE work_items (
  operation_id text COLLATE "C" NOT NULL REFERENCES operations (id),
  provider text COLLATE "C" NOT NULL,
  provider_user_id text NOT NULL,
  kind text COLLATE "C" NOT NULL,
  session_id text COLLATE "C" NOT NULL,
  state text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  -- {code, reason, message}
  last_error jsonb,
  claimed_by text,
  claimed_until timestamptz,
  PRIMARY KEY (operation_id, provider, kind, session_id)
);
CREATE INDEX work_items_due ON work_items (next_attempt_at) WHERE state = 'pending';
`,
  },
  {
    version: 5,
    name: "guess_limits and audit retention",
    // The counters of rate-limiter-flexible's RateLimiterPostgres (its own table layout), shared by
    // every replica; and the index that audit retention deletes old events by.
    sql: `
CREATE TABLE guess_limits (
  key varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);
CREATE INDEX events_by_time ON events (time);
`,
  },
  {
    version: 6,
    name: "request_scopes_and_service_secrets",
    // Each event gets the scope its request id was used in (its operation's, else its principal's);
    // refusals get none, as they are never replayed. An operation's request id is unique per principal.
    // Secrets are inserted once, whoever comes first.
    sql: `
ALTER TABLE events ADD COLUMN request_scope text;
UPDATE events SET request_scope = CASE WHEN operation_id IS NOT NULL THEN 'operation:' || operation_id ELSE 'principal:' || principal END
  WHERE code NOT IN ('UNAUTHENTICATED', 'PERMISSION_DENIED', 'INVALID_ARGUMENT');
DROP INDEX events_by_request;
CREATE INDEX events_by_request_scope ON events (request_scope, request_id, id) WHERE request_scope IS NOT NULL;
ALTER TABLE operations DROP CONSTRAINT operations_request_id_key;
ALTER TABLE operations ADD CONSTRAINT operations_principal_request_id_key UNIQUE (principal, request_id);
CREATE TABLE service_secrets (
  name text PRIMARY KEY,
  value bytea NOT NULL
);
`,
  },
  {
    version: 7,
    name: "outbox",
    // Notices and their deliveries (one per subscriber, written in the transaction of the
    // termination), SSF streams, the signing keys every replica shares, and who started an operation.
    sql: `
CREATE TABLE outbox_notices (
  id bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL,
  notice jsonb NOT NULL
);
CREATE TABLE deliveries (
  id bigserial PRIMARY KEY,
  notice_id bigint NOT NULL REFERENCES outbox_notices (id),
  subscriber text COLLATE "C" NOT NULL,
  jti text NOT NULL UNIQUE,
  state text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  next_attempt_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  -- {status?, err?, message}
  last_error jsonb,
  claimed_by text,
  claimed_until timestamptz
);
CREATE INDEX deliveries_by_notice ON deliveries (notice_id);
CREATE INDEX deliveries_due ON deliveries (subscriber, next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_by_subscriber ON deliveries (subscriber, id);
CREATE INDEX deliveries_by_state ON deliveries (state, id);
CREATE TABLE ssf_streams (
  stream_id text COLLATE "C" PRIMARY KEY,
  status text NOT NULL,
  status_reason text,
  wants_session_revoked boolean NOT NULL,
  config jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE TABLE signing_keys (
  name text PRIMARY KEY,
  pem text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE operations ADD COLUMN initiating_entity text NOT NULL DEFAULT 'admin';
`,
  },
  {
    version: 8,
    name: "user_links",
    // Identity links: an email, or an (iss, sub) pair, is the primary key of its row, so it has one user.
    sql: `
CREATE TABLE user_links (
  user_id text COLLATE "C" PRIMARY KEY,
  provider_user_ids jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE TABLE user_emails (
  email text COLLATE "C" PRIMARY KEY,
  user_id text COLLATE "C" NOT NULL REFERENCES user_links (user_id),
  position integer NOT NULL
);
CREATE INDEX user_emails_by_user ON user_emails (user_id, position);
CREATE TABLE user_identities (
  iss text COLLATE "C" NOT NULL,
  sub text COLLATE "C" NOT NULL,
  user_id text COLLATE "C" NOT NULL REFERENCES user_links (user_id),
  position integer NOT NULL,
  PRIMARY KEY (iss, sub)
);
CREATE INDEX user_identities_by_user ON user_identities (user_id, position);
`,
  },
  {
    version: 9,
    name: "seen_tokens",
    // Token ids of Global Token Revocation requests and received SETs: each is acted on once, by one replica.
    sql: `
CREATE TABLE seen_tokens (
  issuer text NOT NULL,
  jti text NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (issuer, jti)
);
CREATE INDEX seen_tokens_by_expiry ON seen_tokens (expires_at);
`,
  },
  {
    version: 10,
    name: "work_items_sessions_ended",
    // A provider that ends all of a user's sessions in one call: how many were open, when it could list them.
    sql: `ALTER TABLE work_items ADD COLUMN sessions_ended integer;`,
  },
];

/** Schema names this store accepts: plain lower-case identifiers, so they need no quoting anywhere. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Applies the migrations not yet recorded, all in one transaction that holds an advisory lock
 * (one per schema): replicas starting at once apply each migration once, the others wait and
 * find nothing left to do. Creates `schema` first when given. Returns the versions applied here.
 */
export async function migrate(client: pg.ClientBase, schema?: string, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const applied: number[] = [];
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`session-control migrations ${schema ?? "(search_path)"}`]);
    if (schema !== undefined) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`SET LOCAL search_path TO ${schema}`);
    }
    await client.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations");
    const done = new Set(rows.map((r) => r.version));
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
  return applied;
}
