import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { HealthCheckResponse_ServingStatus, HealthCheckResponseSchema } from "../../gen/grpc/health/v1/health_pb.js";
import { UnaryClient } from "../load/once.js";
import { bearer, checkFrame, PATHS } from "../load/requests.js";
import { measure, measureH2load, type RunResult } from "../measure.js";
import { ServerProcess, type ServerName } from "../servers/spawn.js";
import { guarded, progress, type ScenarioContext } from "./context.js";

export const CHECK_CALL = "Health/Check (one field each way)";
/** Sent to every comparison server, so that header parsing costs them what it costs the service. */
export const COMPARISON_HEADERS = bearer("sck_bench_not_checked_by_comparison_servers_000000000");
const COMPARISON_SERVERS: ServerName[] = ["raw-http2", "grpc-js", "connect-node"];

/** The three comparison servers on the one-field unary call, at each number of calls in flight. */
export async function runComparison(ctx: ScenarioContext): Promise<RunResult[]> {
  const framesFile = join(ctx.tmp, "check.frames");
  writeFileSync(framesFile, checkFrame("bench"));
  const runs: RunResult[] = [];
  for (const name of COMPARISON_SERVERS) {
    runs.push(...(await guarded(ctx, name, () => runOne(ctx, name, framesFile), [])));
  }
  return runs;
}

async function runOne(ctx: ScenarioContext, name: ServerName, framesFile: string): Promise<RunResult[]> {
  const server = await ServerProcess.start(name);
  const runs: RunResult[] = [];
  try {
    const client = await UnaryClient.connect(server.port);
    const answer = await client.call(PATHS.check, checkFrame("bench"), COMPARISON_HEADERS);
    await client.close();
    const wrong = checkProblems([answer.body]);
    if (answer.status !== "0" || wrong.length > 0) throw new Error(`wrong answer to Health/Check: status ${answer.status} ${answer.message} ${wrong.join("; ")}`);
    for (const concurrency of ctx.opts.concurrency) {
      const r = await measure(ctx.gen, server, {
        call: CHECK_CALL,
        path: PATHS.check,
        headers: COMPARISON_HEADERS,
        framesFile,
        distinct: false,
        concurrency,
        warmup: ctx.opts.warmupFor(concurrency),
        units: ctx.opts.callsFor(concurrency),
        check: checkProblems,
      });
      progress(r);
      runs.push(r);
    }
    await ctx.gen.disconnect();
    if (ctx.opts.h2load) {
      for (const concurrency of ctx.opts.concurrency) {
        const r = await measureH2load(server, {
          call: CHECK_CALL,
          path: PATHS.check,
          headers: COMPARISON_HEADERS,
          bodyFile: framesFile,
          concurrency,
          warmup: ctx.opts.warmupFor(concurrency),
          calls: ctx.opts.callsFor(concurrency),
        });
        progress(r);
        runs.push(r);
      }
    }
  } finally {
    ctx.servers.push(await server.stop());
  }
  for (const r of runs) ctx.problems.push(...r.problems.map((p) => `${r.server} ${r.call} at ${r.concurrency} [${r.generator}]: ${p}`));
  return runs;
}

/** Every answer must be HealthCheckResponse{status: SERVING}. */
export function checkProblems(messages: Uint8Array[]): string[] {
  for (const m of messages) {
    const status = fromBinary(HealthCheckResponseSchema, m).status;
    if (status !== HealthCheckResponse_ServingStatus.SERVING) return [`Health/Check answered ${HealthCheckResponse_ServingStatus[status]}`];
  }
  return [];
}
