import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { jsPath, removeTranspiled, ROOT, transpileAll } from "../build.js";
import { LoadGenerator } from "../load/driver.js";
import type { ServerName } from "../servers/spawn.js";
import { flagsOf, prepare, removeVariantTrees, type Variant } from "./lib.js";
import { renderHeapSummary, renderSummary, summarize, type CpuProfile, type HeapProfile } from "./summarize.js";

/**
 * CPU profiles of the service's Terminate path and of bare connect-node under the same load
 * (the harness's generator, 64 calls in flight by default), each cut to its timed part and
 * summarized by area (bench/profile/summarize.ts).
 *
 *   npx tsx bench/profile/profile.ts [--servers service,connect-node] [--call terminate|ended|check]
 *     [--calls 20000] [--warmup 2000] [--concurrency 64] [--flags "--stack-trace-limit=10"]
 *     [--overlay DIR] [--out bench/results/tmp/profile] [--keep] [--no-cpu-prof]
 *
 * The service runs with its production flags (src/cli.ts) plus --flags; the comparison servers
 * with --flags only. Writes, per server, the .cpuprofile (open it in Chrome DevTools or
 * speedscope), summary.md and summary.json. --keep keeps the temporary data (the service's log,
 * where e.g. --flags="--trace-gc" writes); --no-cpu-prof runs without the profiler (only the run's
 * figures); --heap samples allocations instead (heap-sampler.ts): bytes allocated per call by area.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      servers: { type: "string", default: "service,connect-node" },
      call: { type: "string", default: "terminate" },
      calls: { type: "string", default: "20000" },
      warmup: { type: "string", default: "2000" },
      concurrency: { type: "string", default: "64" },
      flags: { type: "string", default: "" },
      overlay: { type: "string" },
      out: { type: "string", default: join(ROOT, "bench", "results", "tmp", "profile") },
      "no-cpu-prof": { type: "boolean", default: false },
      heap: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
    },
  });
  const plan = { calls: Number(values.calls), warmup: Number(values.warmup), concurrency: Number(values.concurrency) };
  const flags = values.flags.split(/\s+/).filter(Boolean);
  const variants: Variant[] = values.servers.split(",").map((server) => ({
    name: server,
    server: server as ServerName,
    call: values.call as Variant["call"],
    flags,
    ...(values.overlay && { overlay: values.overlay }),
  }));
  transpileAll();
  process.once("exit", () => {
    removeVariantTrees(variants);
    removeTranspiled();
  });
  const tmp = mkdtempSync(join(os.tmpdir(), "session-control-profile-"));
  const gen = await LoadGenerator.start();
  try {
    for (const v of variants) {
      const dir = join(values.out, v.name);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      process.stderr.write(`${v.name}: node ${flagsOf(v).join(" ")}\n`);
      const heapFile = join(dir, "allocations.heapprofile");
      process.env.HEAP_SAMPLE_FILE = heapFile;
      const extra = values.heap ? [`--import=${jsPath("bench/profile/heap-sampler.ts")}`] : values["no-cpu-prof"] ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}`];
      const p = await prepare(v, gen, tmp, plan, extra);
      let from = 0;
      let to = 0;
      const r = await p.run({
        before: () => {
          from = Number(process.hrtime.bigint() / 1000n);
          if (values.heap) process.kill(p.server.pid, "SIGUSR2");
        },
        after: () => {
          to = Number(process.hrtime.bigint() / 1000n);
          if (values.heap) process.kill(p.server.pid, "SIGUSR2");
        },
      });
      if (values.heap) {
        while (!existsSync(heapFile)) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await p.stop();
      if (values.heap) {
        const md = `### ${v.name}: ${r.call}, ${plan.concurrency} in flight, ${r.calls} calls (allocation sampling)\n\n` + renderHeapSummary(JSON.parse(readFileSync(heapFile, "utf8")) as HeapProfile, r.calls);
        writeFileSync(join(dir, "allocations.md"), md);
        console.log(md);
        continue;
      }
      if (values["no-cpu-prof"]) {
        console.log(`${v.name}: ${r.callsPerSec.toFixed(0)} calls/s, p50 ${r.latencyMs!.p50.toFixed(1)} ms, p99 ${r.latencyMs!.p99.toFixed(1)} ms, CPU ${r.cpuMsPerCall.toFixed(3)} ms/call, peak RSS ${r.peakRssMb?.toFixed(0)} MB`);
        continue;
      }
      const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
      if (!file) throw new Error(`${v.name}: no .cpuprofile in ${dir}`);
      const profile = JSON.parse(readFileSync(join(dir, file), "utf8")) as CpuProfile;
      const s = summarize(profile, { from, to, top: 30 });
      const head =
        `### ${v.name}: ${r.call}, ${plan.concurrency} in flight, ${r.calls} calls (profiled)\n\n` +
        `node ${flagsOf(v).join(" ")} --cpu-prof; ${r.callsPerSec.toFixed(0)} calls/s, p50 ${r.latencyMs!.p50.toFixed(1)} ms, p99 ${r.latencyMs!.p99.toFixed(1)} ms, ` +
        `CPU ${r.cpuMsPerCall.toFixed(3)} ms/call, server CPU ${r.serverCpuPercent.toFixed(0)} %, peak RSS ${r.peakRssMb?.toFixed(0)} MB\n\n`;
      const md = head + renderSummary(s, r.calls);
      writeFileSync(join(dir, "summary.md"), md);
      writeFileSync(join(dir, "summary.json"), JSON.stringify({ variant: v, flags: flagsOf(v), plan, run: r, window: { from, to }, summary: s }, null, 2));
      console.log(md);
      process.stderr.write(`  profile: ${join(dir, file)}\n`);
    }
  } finally {
    await gen.stop();
    if (values.keep) process.stderr.write(`kept: ${tmp}\n`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error((err as Error).stack ?? String(err));
    process.exit(1);
  },
);
