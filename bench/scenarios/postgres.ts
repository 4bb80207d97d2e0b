import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { PostgresStores } from "../../src/store/postgres.js";
import { ordinaryUser, random, RESOURCE_OWNER, sessionId, shuffle } from "../data/seed.js";
import { writeFrameFile } from "../load/frames.js";
import { PATHS, terminateFrame } from "../load/requests.js";
import { measure, type RunResult } from "../measure.js";
import { progress, type ScenarioContext } from "./context.js";
import { ENDED_CALL, TERMINATE_CALL } from "./headline.js";
import { prepareService, startServiceProcess, terminateOnce, terminateProblems } from "./service-env.js";

export const POSTGRES_SERVER = "service (postgres)";

export interface PostgresSection {
  status: "measured" | "skipped";
  note: string;
  /** Sessions seeded into the fresh schema before the service started. */
  sessions: number;
  seedSeconds?: number;
  runs: RunResult[];
}

/** Sessions created here start at this time (as data/seed.ts does for SQLite), one millisecond apart. */
const BASE_MS = Date.UTC(2025, 0, 1);
const TOKEN_HASH = Buffer.alloc(32, 0xab);
const BATCH = 10_000;

/**
 * The headline's Terminate runs on PostgreSQL: the service configured with `store:
 * postgres://...?options=-c search_path=<fresh schema>`, every session it ends seeded in bulk
 * beforehand; Terminate of distinct sessions and of one already-ended session at each number
 * of calls in flight. The schema is made before and dropped after. An unreachable database
 * skips the part with the reason printed; it is not a failure of the run.
 */
export async function runPostgres(ctx: ScenarioContext): Promise<PostgresSection> {
  if (!ctx.opts.parts.has("postgres")) return { status: "skipped", note: "not run (--only)", sessions: 0, runs: [] };
  process.stderr.write("postgres:\n");
  const base = ctx.opts.postgresUrl;
  const unreachable = await probe(base);
  if (unreachable) {
    const note = `skipped: no PostgreSQL at ${redact(base)} (${unreachable}); give one with --postgres-url`;
    process.stderr.write(`  ${note}\n`);
    return { status: "skipped", note, sessions: 0, runs: [] };
  }
  const schema = `sc_bench_${randomBytes(6).toString("hex")}`;
  await admin(base, (c) => c.query(`CREATE SCHEMA ${schema}`));
  try {
    return await measurePostgres(ctx, withSearchPath(base, schema), schema);
  } finally {
    await admin(base, (c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).catch((err: unknown) => {
      process.stderr.write(`  could not drop schema ${schema}: ${(err as Error).message}\n`);
    });
  }
}

async function measurePostgres(ctx: ScenarioContext, url: string, schema: string): Promise<PostgresSection> {
  const { opts } = ctx;
  // Migrations as the service applies them at start (it then finds nothing left to do).
  const store = await PostgresStores.connect(url);
  await store.close();
  const perRun = opts.concurrency.map((c) => opts.postgresWarmupFor(c) + opts.postgresCallsFor(c));
  const sessions = perRun.reduce((a, b) => a + b, 0) + 2;
  const seedMs = await seed(url, sessions);
  process.stderr.write(`  schema ${schema}: seeded ${sessions} sessions in ${(seedMs / 1000).toFixed(1)} s\n`);
  const order = shuffle(Int32Array.from({ length: sessions }, (_, i) => i), random(5));
  const [probeId, ended] = [sessionId(order[0]!), sessionId(order[1]!)];
  const terminateFrames = join(ctx.tmp, "postgres-terminate.frames");
  await writeFrameFile(terminateFrames, (function* () {
    for (let k = 2; k < sessions; k++) yield terminateFrame(sessionId(order[k]!));
  })());
  const endedFrame = join(ctx.tmp, "postgres-ended.frames");
  writeFileSync(endedFrame, terminateFrame(ended));

  const env = await prepareService(ctx.tmp, "postgres", opts.serviceLogLevel, { store: url });
  const server = await startServiceProcess(env, opts.serviceNodeFlags, POSTGRES_SERVER);
  const runs: RunResult[] = [];
  try {
    const setup = [
      ...(await terminateOnce(server.port, env, probeId, false)),
      ...(await terminateOnce(server.port, env, ended, false)),
      ...(await terminateOnce(server.port, env, ended, true)),
    ];
    if (setup.length > 0) throw new Error(`the service on PostgreSQL answers Terminate wrongly: ${setup.join("; ")}`);
    let offset = 0;
    for (const [k, concurrency] of opts.concurrency.entries()) {
      const r = await measure(ctx.gen, server, {
        call: TERMINATE_CALL,
        path: PATHS.terminate,
        headers: env.headers,
        framesFile: terminateFrames,
        distinct: true,
        offset,
        concurrency,
        warmup: opts.postgresWarmupFor(concurrency),
        units: opts.postgresCallsFor(concurrency),
        check: terminateProblems(false),
      });
      progress(r);
      runs.push(r);
      offset += perRun[k]!;
    }
    for (const concurrency of opts.concurrency) {
      const r = await measure(ctx.gen, server, {
        call: ENDED_CALL,
        path: PATHS.terminate,
        headers: env.headers,
        framesFile: endedFrame,
        distinct: false,
        concurrency,
        warmup: opts.postgresWarmupFor(concurrency),
        units: opts.postgresCallsFor(concurrency),
        check: terminateProblems(true),
      });
      progress(r);
      runs.push(r);
    }
    await ctx.gen.disconnect();
  } finally {
    ctx.servers.push(await server.stop());
  }
  for (const r of runs) ctx.problems.push(...r.problems.map((p) => `service on PostgreSQL ${r.call} at ${r.concurrency}: ${p}`));
  return { status: "measured", note: `PostgreSQL at ${redact(opts.postgresUrl)}, fresh schema ${schema} (dropped afterwards)`, sessions, seedSeconds: seedMs / 1000, runs };
}

/** Sessions 0..n-1 with the ids, owner and token hash data/seed.ts gives them in SQLite, in batches of unnest()ed arrays. */
async function seed(url: string, n: number): Promise<number> {
  const start = performance.now();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("BEGIN");
    for (let from = 0; from < n; from += BATCH) {
      const ids: string[] = [];
      const users: string[] = [];
      const times: Date[] = [];
      for (let i = from; i < Math.min(n, from + BATCH); i++) {
        ids.push(sessionId(i));
        users.push(ordinaryUser(i));
        times.push(new Date(BASE_MS + i));
      }
      await client.query(
        `INSERT INTO sessions (id, user_id, resource_owner, creation_date, change_date, sequence, expiration_date, metadata, token_hash)
         SELECT t.id, t.user_id, $4, t.at, t.at, nextval('session_sequence'), NULL, '{}'::jsonb, $5
         FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS t(id, user_id, at)`,
        [ids, users, times, RESOURCE_OWNER, TOKEN_HASH],
      );
    }
    await client.query("COMMIT");
    await client.query("ANALYZE sessions");
  } finally {
    await client.end();
  }
  return performance.now() - start;
}

/** The URL with `options=-c search_path=<schema>` (percent-encoded), as the service's configuration takes it. */
export function withSearchPath(url: string, schema: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/** Why the database cannot be used, or undefined when it can. */
async function probe(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return undefined;
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function admin<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
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
