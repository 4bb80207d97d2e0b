import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { random, seedSessions, sessionId } from "../data/seed.js";
import { writeFrameFile } from "../load/frames.js";
import { PATHS, terminateFrame } from "../load/requests.js";
import { measure, type RunResult } from "../measure.js";
import { progress, type ScenarioContext } from "./context.js";
import { TERMINATE_CALL } from "./headline.js";
import { prepareService, startServiceProcess, terminateOnce, terminateProblems } from "./service-env.js";

export interface GrowthPoint {
  sessions: number;
  /** Seconds to seed the sessions added for this point. */
  seedSeconds: number;
  /** Size of the store's file, MB. */
  fileMb: number;
  result: RunResult;
}

/**
 * Terminate of distinct sessions, picked at random from the whole store, as the store grows
 * (10^3, 10^5, 10^6 sessions by default). One store grows from point to point; the service is
 * started afresh for each, and warmed up by ending one already-ended session over and over (the
 * same code path but for the one row the UPDATE changes), since a store of 10^3 has few to spare.
 */
export async function runGrowth(ctx: ScenarioContext): Promise<GrowthPoint[]> {
  const { opts } = ctx;
  const env = await prepareService(ctx.tmp, "growth", opts.serviceLogLevel);
  const sizes = [...opts.growthSizes].sort((a, b) => a - b);
  const used = new Set<number>();
  const rand = random(10);
  const pick = (size: number) => {
    let i: number;
    do i = Math.floor(rand() * size);
    while (used.has(i));
    used.add(i);
    return sessionId(i);
  };
  const points: GrowthPoint[] = [];
  let seeded = 0;
  for (const size of sizes) {
    const seedMs = seedSessions(env.dbFile, seeded, size);
    seeded = size;
    const fileMb = statSync(env.dbFile).size / (1024 * 1024);
    process.stderr.write(`  store holds ${size} sessions (${fileMb.toFixed(0)} MB; seeded in ${(seedMs / 1000).toFixed(1)} s)\n`);
    const ended = pick(size);
    const warmupFile = join(ctx.tmp, `growth-${size}-warmup.frames`);
    writeFileSync(warmupFile, terminateFrame(ended));
    const framesFile = join(ctx.tmp, `growth-${size}.frames`);
    await writeFrameFile(framesFile, (function* () {
      for (let k = 0; k < opts.growthCalls; k++) yield terminateFrame(pick(size));
    })());
    const server = await startServiceProcess(env, opts.serviceNodeFlags);
    try {
      const wrong = await terminateOnce(server.port, env, ended, false);
      if (wrong.length > 0) throw new Error(`the service answers Terminate wrongly: ${wrong.join("; ")}`);
      const result = await measure(ctx.gen, server, {
        call: `${TERMINATE_CALL}, ${size} in store`,
        path: PATHS.terminate,
        headers: env.headers,
        framesFile,
        warmupFramesFile: warmupFile,
        distinct: true,
        concurrency: opts.growthConcurrency,
        warmup: opts.growthWarmup,
        units: opts.growthCalls,
        check: terminateProblems(false),
      });
      progress(result);
      ctx.problems.push(...result.problems.map((p) => `service growth at ${size} sessions: ${p}`));
      points.push({ sessions: size, seedSeconds: seedMs / 1000, fileMb, result });
      await ctx.gen.disconnect();
    } finally {
      ctx.servers.push({ ...(await server.stop()), name: `service (${size} sessions)` });
    }
  }
  return points;
}
