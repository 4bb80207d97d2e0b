import type { LoadGenerator } from "../load/driver.js";
import type { RunResult } from "../measure.js";
import type { Options } from "../options.js";
import type { ServerSummary } from "../servers/spawn.js";

/** What every part of a benchmark run shares. */
export interface ScenarioContext {
  opts: Options;
  gen: LoadGenerator;
  /** A fresh temporary directory for this run's data, removed at the end. */
  tmp: string;
  /** Wrong answers and failures to start: any makes the run exit non-zero. */
  problems: string[];
  /** Every server process started, summed up when it stopped. */
  servers: ServerSummary[];
}

/** One progress line per measured run, on stderr (the table goes to stdout at the end). */
export function progress(r: RunResult): void {
  const lat = r.latencyMs ? `p50 ${r.latencyMs.p50.toFixed(2)} ms  p99 ${r.latencyMs.p99.toFixed(2)} ms` : `mean ${r.meanLatencyMs?.toFixed(2)} ms`;
  const ok = r.problems.length === 0 ? "" : `  PROBLEM: ${r.problems[0]}`;
  process.stderr.write(
    `  ${r.server.padEnd(12)} ${r.call.padEnd(36)} ${String(r.concurrency).padStart(3)} in flight  ` +
      `${r.callsPerSec.toFixed(0).padStart(6)} calls/s  ${lat}  cpu ${r.cpuMsPerCall.toFixed(3)} ms/call  ` +
      `(server ${r.serverCpuPercent.toFixed(0)}%, generator ${r.generatorCpuPercent?.toFixed(0) ?? "-"}%)  ` +
      `rss ${r.peakRssMb?.toFixed(0) ?? "?"} MB (heap ${r.heapUsedMb.toFixed(0)}/${r.heapTotalMb.toFixed(0)}, external ${r.externalMb.toFixed(0)})  [${r.generator}]${ok}\n`,
  );
}

/** Runs `part`; an exception becomes a problem of the run instead of ending it. */
export async function guarded<T>(ctx: ScenarioContext, what: string, part: () => Promise<T>, fallback: T): Promise<T> {
  try {
    return await part();
  } catch (err) {
    const message = `${what}: ${(err as Error).message}`;
    ctx.problems.push(message);
    process.stderr.write(`  FAILED ${message}\n`);
    return fallback;
  }
}
