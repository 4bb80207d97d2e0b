import pg from "pg";
import { migrate, SCHEMA_NAME } from "./postgres-migrations.js";
import { PostgresAudit } from "./postgres-audit.js";
import { PostgresLinks } from "./postgres-links.js";
import { PostgresOperations } from "./postgres-operations.js";
import { PostgresOutbox } from "./postgres-outbox.js";
import { PostgresServiceState } from "./postgres-service-state.js";
import { PostgresSessions } from "./postgres-sessions.js";
import { PostgresStreams } from "./postgres-streams.js";
import type { Stores } from "./store.js";

export interface PostgresOptions {
  /** Keep the tables in this schema (created when missing) instead of the connection's search_path. */
  schema?: string;
  /** Connections in the pool; default 10. */
  poolSize?: number;
}

/**
 * The store for several replicas: PostgreSQL through one `pg` pool shared by the parts, schema
 * kept by versioned migrations applied at connect. Each write is its own transaction, committed
 * with the server's synchronous_commit (default on: flushed to disk) before its promise resolves;
 * concurrent commits share WAL flushes in the server, so no group commit is needed here.
 * Races between replicas are settled by the database: a conditional UPDATE ends a session
 * once, unique keys make operations and TOTP steps once-only, and work is claimed with
 * FOR UPDATE SKIP LOCKED on the database clock.
 */
export class PostgresStores implements Stores {
  readonly sessions: PostgresSessions;
  readonly audit: PostgresAudit;
  readonly operations: PostgresOperations;
  readonly totpSteps: PostgresServiceState;
  readonly seenTokens: PostgresServiceState;
  readonly secrets: PostgresServiceState;
  readonly outbox: PostgresOutbox;
  readonly signingKeys: PostgresServiceState;
  readonly streams: PostgresStreams;
  readonly links: PostgresLinks;
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    /** The migration versions this connect applied (none when another replica had applied them). */
    readonly appliedMigrations: readonly number[],
  ) {
    this.outbox = new PostgresOutbox(pool);
    this.sessions = new PostgresSessions(pool, this.outbox.subscribers);
    this.audit = new PostgresAudit(pool, this.outbox.subscribers);
    this.operations = new PostgresOperations(pool, this.outbox.subscribers);
    this.totpSteps = this.seenTokens = this.secrets = this.signingKeys = new PostgresServiceState(pool);
    this.streams = new PostgresStreams(pool);
    this.links = new PostgresLinks(pool);
  }

  static async connect(url: string, options: PostgresOptions = {}): Promise<PostgresStores> {
    const { schema, poolSize = 10 } = options;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}: use lower-case letters, digits and _`);
    const pool = new pg.Pool({ ...connection(url, schema), max: poolSize });
    // An idle connection that fails (the server restarted) is dropped by the pool; the next query gets a new one.
    pool.on("error", () => undefined);
    try {
      const client = await pool.connect();
      try {
        const applied = await migrate(client, schema);
        client.release();
        return new PostgresStores(pool, applied);
      } catch (err) {
        client.release(err instanceof Error ? err : new Error(String(err)));
        throw err;
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
  }

  /** A server setting as this store's connections see it (e.g. synchronous_commit, search_path), for checks. */
  async setting(name: string): Promise<string> {
    const { rows } = await this.pool.query<{ value: string }>("SELECT current_setting($1) AS value", [name]);
    return rows[0]!.value;
  }

  close(): Promise<void> {
    this.closed ??= this.pool.end();
    return this.closed;
  }
}

/** The pool's connection settings: `schema` becomes the search_path of every connection it opens. */
function connection(url: string, schema: string | undefined): pg.PoolConfig {
  if (schema === undefined) return { connectionString: url };
  const searchPath = `-c search_path=${schema}`;
  // Settings in the URL win over the config's, so an `options` parameter there is extended instead.
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  const given = parsed?.searchParams.get("options");
  if (parsed && given) {
    parsed.searchParams.set("options", `${given} ${searchPath}`);
    return { connectionString: parsed.toString() };
  }
  return { connectionString: url, options: searchPath };
}
