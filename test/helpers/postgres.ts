import { randomBytes } from "node:crypto";
import pg from "pg";

/** The PostgreSQL the tests use: TEST_POSTGRES_URL, or the local one CI starts. */
export const postgresUrl = process.env["TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";

let probe: Promise<string | undefined> | undefined;

/**
 * Why the PostgreSQL tests cannot run here, or undefined when they can. Outside CI an
 * unreachable database skips them (with a warning, printed once per test file); in CI
 * (CI=true) they always run, so that a missing database fails them.
 */
export function postgresSkipReason(): Promise<string | undefined> {
  probe ??= (async () => {
    if (process.env["CI"] === "true") return undefined;
    const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3000 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
      await client.end();
      return undefined;
    } catch (err) {
      await client.end().catch(() => undefined);
      const reason = `PostgreSQL store tests skipped: no database at ${redact(postgresUrl)} (${(err as Error).message}). Start it or set TEST_POSTGRES_URL; with CI=true they run and fail instead.`;
      console.warn(reason);
      return reason;
    }
  })();
  return probe;
}

/** `store:` for a service: the test database, its tables in `schema` (through the connection's search_path). */
export function storeUrl(schema: string): string {
  const url = new URL(postgresUrl);
  const given = url.searchParams.get("options");
  url.searchParams.delete("options");
  const options = `${given ? `${given} ` : ""}-c search_path=${schema}`;
  return `${url.toString()}${url.search ? "&" : "?"}options=${encodeURIComponent(options)}`;
}

/** A new schema name for one test's tables; the store creates it on connect. */
export function freshSchema(): string {
  return `sc_test_${randomBytes(6).toString("hex")}`;
}

/** Drops a schema made by the tests, with everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  if (!/^sc_test_[0-9a-f]+$/.test(schema)) throw new Error(`not a test schema: ${schema}`);
  await withClient((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
}

/** Runs `run` with a connection of its own (search_path: `schema`, when given). */
export async function withClient<T>(run: (client: pg.Client) => Promise<T>, schema?: string): Promise<T> {
  const client = new pg.Client({ connectionString: postgresUrl, ...(schema !== undefined && { options: `-c search_path=${schema}` }) });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}
