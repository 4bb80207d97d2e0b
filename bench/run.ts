import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { JS_DIR, removeTranspiled, ROOT, transpileAll } from "./build.js";
import { LoadGenerator } from "./load/driver.js";
import { h2loadAvailable } from "./load/h2load.js";
import { describeMachine, describeSource } from "./machine.js";
import { parseOptions, type Options } from "./options.js";
import { runProviderBenchmarks } from "./providers.js";
import { buildReport, renderMarkdown, type Report } from "./report.js";
import { runComparison } from "./scenarios/comparison.js";
import { guarded, type ScenarioContext } from "./scenarios/context.js";
import { runGrowth } from "./scenarios/growth.js";
import { runHeadline } from "./scenarios/headline.js";
import { runPostgres } from "./scenarios/postgres.js";
import { runTerminateUser } from "./scenarios/terminate-user.js";

/**
 * `npm run bench [-- --smoke]`: the comparison servers, the service, its growth, its providers,
 * TerminateUser and the service on PostgreSQL, each server (and the fake upstreams) in a child
 * process of its own, driven by one load generator child.
 * Prints a Markdown table and the targets; writes the result as JSON. Exits non-zero when a server
 * answered wrongly or could not be measured (never because a performance target was missed).
 */
async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const startedAt = new Date();
  const machine = describeMachine();
  if (opts.h2load && !h2loadAvailable()) {
    process.stderr.write("h2load is not installed (apt-get install nghttp2-client): skipping the h2load runs\n");
    opts.h2load = false;
  }
  const built = transpileAll();
  process.once("exit", removeTranspiled);
  process.stderr.write(`session-control bench (${opts.smoke ? "smoke" : "full"}): transpiled ${built.files} files to ${JS_DIR} in ${built.ms} ms\n`);

  const tmp = mkdtempSync(join(os.tmpdir(), "session-control-bench-"));
  const cleanUp = () => rmSync(tmp, { recursive: true, force: true });
  process.once("SIGINT", () => {
    cleanUp();
    process.exit(130);
  });
  const gen = await LoadGenerator.start();
  const ctx: ScenarioContext = { opts, gen, tmp, problems: [], servers: [] };
  let report: Report;
  try {
    const comparison = opts.parts.has("comparison") ? (process.stderr.write("comparison servers:\n"), await timed("comparison", () => runComparison(ctx))) : [];
    const noHeadline = { runs: [], list: [], sessions: 0 };
    const headline = opts.parts.has("service") ? (process.stderr.write("the service:\n"), await timed("service", () => guarded(ctx, "service", () => runHeadline(ctx), noHeadline))) : noHeadline;
    const doGrowth = opts.growth && opts.parts.has("growth");
    const growth = doGrowth ? (process.stderr.write("growth:\n"), await timed("growth", () => guarded(ctx, "growth", () => runGrowth(ctx), []))) : [];
    const providers = await timed("providers", () => runProviderBenchmarks(ctx));
    const terminateUser = await timed("terminate-user", () => runTerminateUser(ctx));
    const noPostgres = { status: "skipped" as const, note: "failed (see problems)", sessions: 0, runs: [] };
    const postgres = await timed("postgres", () => guarded(ctx, "postgres", () => runPostgres(ctx), noPostgres));
    machine.loadAverage.end = os.loadavg()[0]!;
    report = buildReport({
      mode: opts.smoke ? "smoke" : "full",
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      argv: process.argv.slice(2),
      machine,
      source: describeSource(ROOT),
      settings: settingsOf(opts),
      runs: [...comparison, ...headline.runs],
      headlineStoreSessions: headline.sessions,
      growth,
      list: headline.list,
      providers,
      terminateUser,
      postgres,
      servers: ctx.servers,
      problems: ctx.problems,
    });
  } finally {
    await gen.stop();
    cleanUp();
  }

  console.log(renderMarkdown(report));
  const written = writeResult(report, opts);
  console.log(`\nresult: ${written.join(", ")}`);
  if (report.problems.length > 0) {
    console.error(`\n${report.problems.length} problem(s): a server answered wrongly or could not be measured`);
    return 1;
  }
  return 0;
}

/** Runs a part and says on stderr how long it took (parts not asked for take no time and say nothing). */
async function timed<T>(part: string, run: () => Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await run();
  const seconds = (performance.now() - start) / 1000;
  if (seconds > 0.05) process.stderr.write(`  (${part}: ${seconds.toFixed(1)} s)\n`);
  return result;
}

function settingsOf(o: Options): Record<string, unknown> {
  return {
    concurrency: o.concurrency,
    calls: Object.fromEntries(o.concurrency.map((c) => [c, o.callsFor(c)])),
    warmup: Object.fromEntries(o.concurrency.map((c) => [c, o.warmupFor(c)])),
    growthSizes: o.growthSizes,
    growthConcurrency: o.growthConcurrency,
    growthCalls: o.growthCalls,
    growthWarmup: o.growthWarmup,
    listUsers: o.listUsers,
    listCalls: o.listCalls,
    listWalks: o.listWalks,
    serviceLogLevel: o.serviceLogLevel,
    serviceNodeFlags: o.serviceNodeFlags,
    h2load: o.h2load,
    providerTypes: o.providerTypes,
    providerLatencies: o.providerLatencies,
    providerConcurrency: o.providerConcurrency,
    providerCalls: Object.fromEntries(o.providerLatencies.map((l) => [l, Object.fromEntries(o.providerConcurrency.map((c) => [c, o.providerCallsFor(l, c)]))])),
    providerWarmup: o.providerWarmup,
    terminateUserSizes: o.terminateUserSizes,
    terminateUserRepeats: o.terminateUserRepeats,
    fanOutCalls: o.fanOutCalls,
    fanOutWarmup: o.fanOutWarmup,
    fanOutLatencyMs: o.fanOutLatencyMs,
    fanOutAloneCalls: o.fanOutAloneCalls,
    postgresUrl: o.postgresUrl.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@"),
    postgresCalls: Object.fromEntries(o.concurrency.map((c) => [c, o.postgresCallsFor(c)])),
    postgresWarmup: Object.fromEntries(o.concurrency.map((c) => [c, o.postgresWarmupFor(c)])),
    parts: [...o.parts],
    connections: 1,
  };
}

/** Full runs: bench/results/<timestamp>.json and latest.json. Smoke runs: bench/results/tmp/smoke.json (not committed). */
function writeResult(report: Report, opts: Options): string[] {
  const dir = opts.outDir || join(ROOT, "bench", "results", ...(opts.smoke ? ["tmp"] : []));
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify(report, null, 2) + "\n";
  const files = opts.smoke ? [join(dir, "smoke.json")] : [join(dir, `${report.startedAt.replace(/[:.]/g, "-")}.json`), join(dir, "latest.json")];
  for (const file of files) writeFileSync(file, json);
  return files;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
