import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { removeTranspiled, ROOT, transpileAll } from "../build.js";
import { LoadGenerator } from "../load/driver.js";
import type { RunResult } from "../measure.js";
import type { ServerName } from "../servers/spawn.js";
import { flagsOf, fmt, prepare, removeVariantTrees, spread, type Variant } from "./lib.js";

/**
 * A/B runs of server variants on a noisy machine: every round runs every variant once (a fresh
 * server and fresh data each time, the order rotated from round to round), with the harness's
 * generator and measure(); the report gives medians and (min–max) over the rounds, and each
 * variant's calls/s over the reference variant's in the same round.
 *
 *   npx tsx bench/profile/ab.ts [--variants FILE.json | --variant NAME=SERVER[:flag ...] ...]
 *     [--reference NAME] [--rounds 5] [--calls 6000] [--warmup 600] [--concurrency 64] [--out FILE.json]
 *
 * A variants file holds an array of bench/profile/lib.ts Variant objects, e.g.
 *   [{ "name": "connect-node", "server": "connect-node" },
 *    { "name": "service", "server": "service" },
 *    { "name": "service stl=0", "server": "service", "flags": ["--stack-trace-limit=0"] },
 *    { "name": "service patched", "server": "service", "overlay": "bench/results/tmp/overlays/x" }]
 * The service runs with its production flags (src/cli.ts) plus "flags", unless "replaceFlags".
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      variants: { type: "string" },
      variant: { type: "string", multiple: true, default: [] },
      reference: { type: "string" },
      rounds: { type: "string", default: "5" },
      calls: { type: "string", default: "6000" },
      warmup: { type: "string", default: "600" },
      concurrency: { type: "string", default: "64" },
      out: { type: "string" },
    },
  });
  const variants: Variant[] = values.variants ? (JSON.parse(readFileSync(values.variants, "utf8")) as Variant[]) : values.variant.map(parseVariant);
  if (variants.length === 0) variants.push({ name: "connect-node", server: "connect-node" }, { name: "service", server: "service" });
  const reference = values.reference ?? variants.find((v) => v.server === "connect-node")?.name;
  const plan = { calls: Number(values.calls), warmup: Number(values.warmup), concurrency: Number(values.concurrency) };
  const rounds = Number(values.rounds);

  transpileAll();
  process.once("exit", () => {
    removeVariantTrees(variants);
    removeTranspiled();
  });
  const tmp = mkdtempSync(join(os.tmpdir(), "session-control-ab-"));
  const gen = await LoadGenerator.start();
  const results = new Map<string, RunResult[]>(variants.map((v) => [v.name, []]));
  const ratios = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const load: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
      const inRound = new Map<string, RunResult>();
      for (const v of order) {
        load.push(os.loadavg()[0]!);
        const p = await prepare(v, gen, tmp, plan);
        try {
          const r = await p.run();
          inRound.set(v.name, r);
          results.get(v.name)!.push(r);
          process.stderr.write(
            `round ${round + 1}/${rounds}  ${v.name.padEnd(28)} ${r.callsPerSec.toFixed(0).padStart(6)} calls/s  p50 ${r.latencyMs!.p50.toFixed(1)}  p99 ${r.latencyMs!.p99.toFixed(1)} ms  ` +
              `cpu ${r.cpuMsPerCall.toFixed(3)} ms/call  rss ${r.peakRssMb?.toFixed(0)} MB  (server ${r.serverCpuPercent.toFixed(0)}%, load ${os.loadavg()[0]!.toFixed(1)})\n`,
          );
        } finally {
          await p.stop();
          rmSync(tmp, { recursive: true, force: true });
          mkdirSync(tmp, { recursive: true });
        }
      }
      const ref = reference ? inRound.get(reference) : undefined;
      if (ref) for (const [name, r] of inRound) ratios.get(name)!.push(r.callsPerSec / ref.callsPerSec);
    }
  } finally {
    await gen.stop();
    rmSync(tmp, { recursive: true, force: true });
  }

  const rows = variants.map((v) => {
    const rs = results.get(v.name)!;
    return {
      variant: v,
      flags: flagsOf(v),
      callsPerSec: spread(rs.map((r) => r.callsPerSec)),
      ratio: spread(ratios.get(v.name)!),
      p50: spread(rs.map((r) => r.latencyMs!.p50)),
      p99: spread(rs.map((r) => r.latencyMs!.p99)),
      cpuMsPerCall: spread(rs.map((r) => r.cpuMsPerCall)),
      peakRssMb: spread(rs.map((r) => r.peakRssMb ?? NaN)),
      runs: rs.map((r) => ({ callsPerSec: r.callsPerSec, p50: r.latencyMs!.p50, p99: r.latencyMs!.p99, cpuMsPerCall: r.cpuMsPerCall, peakRssMb: r.peakRssMb, serverCpuPercent: r.serverCpuPercent, generatorCpuPercent: r.generatorCpuPercent })),
    };
  });
  const md = [
    `${rounds} rounds, ${plan.calls} calls at ${plan.concurrency} in flight after ${plan.warmup} warm-up calls; median (min–max); ratio: calls/s ÷ ${reference ?? "-"} in the same round. Load average during the runs: ${fmt(spread(load), 1)}.`,
    "",
    `| variant | calls/s | ÷ ${reference ?? "ref"} | p50 ms | p99 ms | CPU ms/call | peak RSS MB |`,
    "|---|--:|--:|--:|--:|--:|--:|",
    ...rows.map((r) => `| ${r.variant.name} | ${fmt(r.callsPerSec)} | ${reference ? fmt(r.ratio, 2) : "-"} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.cpuMsPerCall, 3)} | ${fmt(r.peakRssMb)} |`),
    "",
  ].join("\n");
  console.log(md);
  const out = values.out ?? join(ROOT, "bench", "results", "tmp", "ab", `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ plan, rounds, reference, loadAverage: spread(load), rows, markdown: md }, null, 2) + "\n");
  process.stderr.write(`result: ${out}\n`);
}

/** NAME=SERVER[:flag flag ...], e.g. "stl0=service:--stack-trace-limit=0". */
function parseVariant(s: string): Variant {
  const m = /^([^=]+)=([a-z0-9-]+)(?::(.*))?$/.exec(s);
  if (!m) throw new Error(`--variant ${s}: expected NAME=SERVER[:flags]`);
  return { name: m[1]!, server: m[2] as ServerName, ...(m[3] && { flags: m[3].split(/\s+/).filter(Boolean) }) };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error((err as Error).stack ?? String(err));
    process.exit(1);
  },
);
