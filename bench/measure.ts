import type { LoadGenerator } from "./load/driver.js";
import type { Job, JobResult } from "./load/job.js";
import { summarize, type LatencySummary } from "./load/stats.js";
import { unenvelope } from "./load/frames.js";
import type { ServerProcess } from "./servers/spawn.js";
import type { ChildUsage } from "./servers/child.js";
import { runH2load, type H2loadSpec } from "./load/h2load.js";

/** One measured run: one server, one kind of call, one number of calls in flight. */
export interface RunResult {
  server: string;
  /** What was called, e.g. "Terminate (distinct sessions)". */
  call: string;
  generator: "own" | "h2load";
  concurrency: number;
  /** Units of work measured (calls, or page walks when chain > 1). */
  units: number;
  calls: number;
  wallSeconds: number;
  callsPerSec: number;
  /** Per unit of work. Missing for h2load, which reports only a mean. */
  latencyMs?: LatencySummary;
  meanLatencyMs?: number;
  /** Server CPU time (user + system) during the timed part, per call. */
  cpuMsPerCall: number;
  /** Server CPU time over wall time: near 100 % means the server's one thread was saturated. */
  serverCpuPercent: number;
  /** The same for the load generator (own generator only): near 100 % means it, not the server, set the pace. */
  generatorCpuPercent?: number;
  /** Peak RSS of the server during the timed part (VmHWM reset before it), MB. */
  peakRssMb?: number;
  /** Lifetime peak RSS of the server process (getrusage), MB. */
  lifetimePeakRssMb: number;
  /** Right after the run: V8 heap used / reserved, and memory outside the V8 heap, MB. */
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  statuses: Record<string, number>;
  /** Wrong answers: a failed call, or a body that does not say what it should. Empty when all is well. */
  problems: string[];
}

export interface RunSpec {
  call: string;
  path: string;
  headers: Record<string, string>;
  framesFile: string;
  distinct: boolean;
  chain?: number;
  concurrency: number;
  warmup: number;
  units: number;
  /** First frame used (distinct frames: warm-up first, then the timed part). */
  offset?: number;
  /** Warm up with these frames (repeated) instead, e.g. when distinct sessions are scarce. */
  warmupFramesFile?: string;
  /** Checks a sample of the response messages (unenveloped); returns what is wrong. */
  check?: (messages: Uint8Array[]) => string[];
  /** Runs between the warm-up and the timed part (e.g. to clear a fake upstream's records of the warm-up). */
  beforeTimed?: () => Promise<void>;
}

/** A run with the generator's raw answer to its timed part: per-unit latencies, for pairing with what an upstream saw. */
export interface RawRun {
  result: RunResult;
  timed: JobResult;
  /** The frame of timed unit u is frame `timedOffset + u * chain` (distinct frames). */
  timedOffset: number;
}

const KEEP_BODIES = 32;
const MB = 1024 * 1024;

/** Warms up, then measures one run of `spec` against `server`: calls/s, latency, CPU, peak RSS. */
export async function measure(gen: LoadGenerator, server: ServerProcess, spec: RunSpec): Promise<RunResult> {
  return (await measureRaw(gen, server, spec)).result;
}

/** `measure`, keeping the timed part's per-unit latencies. */
export async function measureRaw(gen: LoadGenerator, server: ServerProcess, spec: RunSpec): Promise<RawRun> {
  const chain = spec.chain ?? 1;
  const base: Omit<Job, "offset" | "units"> = {
    port: server.port,
    path: spec.path,
    headers: spec.headers,
    framesFile: spec.framesFile,
    distinct: spec.distinct,
    chain,
    concurrency: spec.concurrency,
    keepBodies: KEEP_BODIES,
  };
  const offset = spec.offset ?? 0;
  const problems: string[] = [];
  const separateWarmup = spec.warmupFramesFile !== undefined;
  if (spec.warmup > 0) {
    const warmFrames = separateWarmup ? { framesFile: spec.warmupFramesFile!, distinct: false, offset: 0 } : { offset };
    const warm = await gen.run({ ...base, ...warmFrames, units: spec.warmup });
    problems.push(...answerProblems(warm, separateWarmup ? {} : spec, "warm-up"));
  }
  if (spec.beforeTimed) await spec.beforeTimed();
  const before = await server.usage();
  server.resetPeakRss();
  const timedOffset = offset + (spec.distinct && !separateWarmup ? spec.warmup * chain : 0);
  const timed = await gen.run({ ...base, offset: timedOffset, units: spec.units });
  const after = await server.usage();
  const memory = server.memory();
  problems.push(...answerProblems(timed, spec, "timed"));
  const cpuUs = after.userUs + after.systemUs - (before.userUs + before.systemUs);
  const wallSeconds = timed.wallNs / 1e9;
  const result: RunResult = {
    server: server.name,
    call: spec.call,
    generator: "own",
    concurrency: spec.concurrency,
    units: timed.units,
    calls: timed.calls,
    wallSeconds,
    callsPerSec: timed.calls / wallSeconds,
    latencyMs: summarize(timed.latenciesNs),
    cpuMsPerCall: cpuUs / 1000 / timed.calls,
    serverCpuPercent: cpuUs / 10 / (timed.wallNs / 1e6),
    generatorCpuPercent: timed.cpuUs / 10 / (timed.wallNs / 1e6),
    ...(memory && { peakRssMb: memory.peakRss / MB }),
    lifetimePeakRssMb: (after.maxRssKb * 1024) / MB,
    ...heap(after),
    statuses: timed.statuses,
    problems,
  };
  return { result, timed, timedOffset };
}

function heap(u: ChildUsage): { heapUsedMb: number; heapTotalMb: number; externalMb: number } {
  return { heapUsedMb: u.heapUsed / MB, heapTotalMb: u.heapTotal / MB, externalMb: u.external / MB };
}

function answerProblems(r: JobResult, spec: Pick<RunSpec, "check">, phase: string): string[] {
  const problems: string[] = [];
  const bad = Object.entries(r.statuses).filter(([s]) => s !== "0");
  if (bad.length > 0) {
    problems.push(`${phase}: ${bad.map(([s, n]) => `${n} calls ended with ${s}`).join(", ")}; first: ${r.failures.slice(0, 3).join(" | ")}`);
  }
  if (spec.check) {
    const messages: Uint8Array[] = [];
    for (const body of r.bodies) {
      if (!body) continue;
      const m = unenvelope(body);
      if (m) messages.push(m);
      else problems.push(`${phase}: a response body is not one gRPC message (${body.length} bytes)`);
    }
    if (messages.length === 0 && r.calls > 0 && bad.length === 0) problems.push(`${phase}: no response messages to check`);
    problems.push(...spec.check(messages).map((p) => `${phase}: ${p}`));
  }
  return problems;
}

export interface H2loadRunSpec extends Omit<H2loadSpec, "port" | "calls"> {
  call: string;
  warmup: number;
  calls: number;
}

/** The same measurement with h2load as the generator (only calls/s and mean latency). */
export async function measureH2load(server: ServerProcess, spec: H2loadRunSpec): Promise<RunResult> {
  const { call, warmup, ...rest } = spec;
  if (warmup > 0) await runH2load({ ...rest, port: server.port, calls: warmup });
  const before = await server.usage();
  server.resetPeakRss();
  const r = await runH2load({ ...rest, port: server.port });
  const after = await server.usage();
  const memory = server.memory();
  const cpuUs = after.userUs + after.systemUs - (before.userUs + before.systemUs);
  return {
    server: server.name,
    call,
    generator: "h2load",
    concurrency: spec.concurrency,
    units: spec.calls,
    calls: spec.calls,
    wallSeconds: r.wallSeconds,
    callsPerSec: r.callsPerSec,
    meanLatencyMs: r.meanLatencyMs,
    cpuMsPerCall: cpuUs / 1000 / spec.calls,
    serverCpuPercent: cpuUs / 10 / (r.wallSeconds * 1000),
    ...(memory && { peakRssMb: memory.peakRss / MB }),
    lifetimePeakRssMb: (after.maxRssKb * 1024) / MB,
    ...heap(after),
    statuses: { http_2xx: r.succeeded, failed: r.failed },
    problems: r.failed > 0 ? [`h2load: ${r.failed} of ${spec.calls} requests failed`] : [],
  };
}
