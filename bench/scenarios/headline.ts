import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { layOut, random, seedSessions, sessionId, shuffle } from "../data/seed.js";
import { writeFrameFile } from "../load/frames.js";
import { checkFrame, PATHS, terminateFrame } from "../load/requests.js";
import { measure, measureH2load, type RunResult } from "../measure.js";
import type { ServerProcess } from "../servers/spawn.js";
import { checkProblems } from "./comparison.js";
import { guarded, progress, type ScenarioContext } from "./context.js";
import { listUserId, runList, type ListResult } from "./list.js";
import { prepareService, startServiceProcess, terminateOnce, terminateProblems, type ServiceEnv } from "./service-env.js";

export const TERMINATE_CALL = "Terminate (distinct sessions)";
export const ENDED_CALL = "Terminate (already ended, same body)";
export const SERVICE_CHECK_CALL = "Health/Check (service)";

export interface HeadlineResult {
  runs: RunResult[];
  list: ListResult[];
  /** Sessions in the store when the service started. */
  sessions: number;
}

/**
 * The service on fresh data with every session it will end seeded beforehand: Terminate of a
 * distinct session per call, Terminate of one already-ended session, its own Health/Check, and
 * ListSessions of users with 10, 1k and 10k sessions.
 */
export async function runHeadline(ctx: ScenarioContext): Promise<HeadlineResult> {
  const { opts } = ctx;
  const env = await prepareService(ctx.tmp, "headline", opts.serviceLogLevel);
  // Distinct sessions: for each concurrency, warm-up then timed; plus a probe and the already-ended one.
  const perRun = opts.concurrency.map((c) => opts.warmupFor(c) + opts.callsFor(c));
  const distinct = perRun.reduce((a, b) => a + b, 0) + 2;
  const users = opts.list ? opts.listUsers.map((n) => ({ userId: listUserId(n), sessions: n })) : [];
  const total = distinct + users.reduce((a, u) => a + u.sessions, 0);
  const { userOf, ordinary } = layOut(total, users);
  const seedMs = seedSessions(env.dbFile, 0, total, userOf);
  process.stderr.write(`  seeded ${total} sessions in ${(seedMs / 1000).toFixed(1)} s\n`);
  const targets = shuffle(ordinary, random(4));
  const [probe, ended] = [sessionId(targets[0]!), sessionId(targets[1]!)];
  const terminateFrames = join(ctx.tmp, "terminate.frames");
  await writeFrameFile(terminateFrames, (function* () {
    for (let k = 2; k < distinct; k++) yield terminateFrame(sessionId(targets[k]!));
  })());
  const endedFrame = join(ctx.tmp, "ended.frames");
  writeFileSync(endedFrame, terminateFrame(ended));
  const healthFrame = join(ctx.tmp, "service-check.frames");
  writeFileSync(healthFrame, checkFrame(""));

  const server = await startServiceProcess(env, opts.serviceNodeFlags);
  const runs: RunResult[] = [];
  let list: ListResult[] = [];
  try {
    const setup = [
      ...(await terminateOnce(server.port, env, probe, false)),
      ...(await terminateOnce(server.port, env, ended, false)),
      ...(await terminateOnce(server.port, env, ended, true)),
    ];
    if (setup.length > 0) throw new Error(`the service answers Terminate wrongly: ${setup.join("; ")}`);
    let offset = 0;
    for (const [k, concurrency] of opts.concurrency.entries()) {
      runs.push(await run(ctx, server, env, { call: TERMINATE_CALL, path: PATHS.terminate, framesFile: terminateFrames, distinct: true, offset, concurrency, check: terminateProblems(false) }));
      offset += perRun[k]!;
    }
    for (const concurrency of opts.concurrency) {
      runs.push(await run(ctx, server, env, { call: ENDED_CALL, path: PATHS.terminate, framesFile: endedFrame, distinct: false, concurrency, check: terminateProblems(true) }));
    }
    for (const concurrency of opts.concurrency) {
      runs.push(await run(ctx, server, env, { call: SERVICE_CHECK_CALL, path: PATHS.check, framesFile: healthFrame, distinct: false, concurrency, check: checkProblems }));
    }
    if (opts.list) list = await guarded(ctx, "ListSessions", () => runList(ctx, server, env), []);
    await ctx.gen.disconnect();
    if (opts.h2load) runs.push(...(await guarded(ctx, "h2load on the service", () => h2loadRuns(ctx, server, env, endedFrame, healthFrame), [])));
  } finally {
    ctx.servers.push(await server.stop());
  }
  for (const r of runs) ctx.problems.push(...r.problems.map((p) => `service ${r.call} at ${r.concurrency} [${r.generator}]: ${p}`));
  return { runs, list, sessions: total };
}

interface ServiceRun {
  call: string;
  path: string;
  framesFile: string;
  distinct: boolean;
  offset?: number;
  concurrency: number;
  check: (messages: Uint8Array[]) => string[];
}

async function run(ctx: ScenarioContext, server: ServerProcess, env: ServiceEnv, r: ServiceRun): Promise<RunResult> {
  const result = await measure(ctx.gen, server, {
    ...r,
    headers: env.headers,
    warmup: ctx.opts.warmupFor(r.concurrency),
    units: ctx.opts.callsFor(r.concurrency),
  });
  progress(result);
  return result;
}

async function h2loadRuns(ctx: ScenarioContext, server: ServerProcess, env: ServiceEnv, endedFrame: string, healthFrame: string): Promise<RunResult[]> {
  const runs: RunResult[] = [];
  for (const [call, path, bodyFile] of [
    [ENDED_CALL, PATHS.terminate, endedFrame],
    [SERVICE_CHECK_CALL, PATHS.check, healthFrame],
  ] as const) {
    for (const concurrency of ctx.opts.concurrency) {
      const r = await measureH2load(server, {
        call,
        path,
        headers: env.headers,
        bodyFile,
        concurrency,
        warmup: ctx.opts.warmupFor(concurrency),
        calls: ctx.opts.callsFor(concurrency),
      });
      progress(r);
      runs.push(r);
    }
  }
  return runs;
}
