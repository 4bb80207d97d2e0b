import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { TerminateResponseSchema } from "../gen/sessioncontrol/v1/session_control_pb.js";
import { fakeDelta, fakeProviderConfig, FakeUpstreams } from "./fakes/driver.js";
import { benchUuid, ZITADEL_FAKE_OWNER, type FakeStats, type UpstreamType } from "./fakes/protocol.js";
import { writeFrameFile } from "./load/frames.js";
import { UnaryClient } from "./load/once.js";
import { PATHS, terminateFrame } from "./load/requests.js";
import { summarize } from "./load/stats.js";
import { measureRaw, type RunResult } from "./measure.js";
import { guarded, progress, type ScenarioContext } from "./scenarios/context.js";
import type { ServerProcess } from "./servers/spawn.js";
import { prepareService, startServiceProcess } from "./scenarios/service-env.js";

/** How the upstream's own time is taken, as the report states it. */
export const UPSTREAM_TIME_METHOD =
  "measured inside the fake, per request: from the request's arrival (head parsed) to the last byte of its answer handed to the socket, injected latency included; " +
  "overhead = each call's latency at the load generator minus the fake's time for that same call (paired by session id), then percentiles";

/** One provider measured against its fake upstream with a given injected latency and calls in flight. */
export interface ProviderRun {
  /** The provider's name in the service's configuration; it is also its type. */
  provider: UpstreamType;
  upstreamLatencyMs: number;
  concurrency: number;
  /** Timed calls. */
  calls: number;
  /** Call latency at the load generator, ms. */
  callP50Ms: number;
  callP99Ms: number;
  /** The upstream's own time for the calls' end requests, measured inside the fake, ms. */
  upstreamP50Ms: number;
  upstreamP99Ms: number;
  /** The service's own time per call: each call's latency minus the upstream's own time for it, ms. */
  overheadP50Ms: number;
  overheadP99Ms: number;
  /** Connections the fake upstream accepted during this run, warm-up included (pooling must keep this small). */
  upstreamConnections: number;
  /** Connections the fake accepted since it started (every run of every latency so far). */
  upstreamConnectionsTotal: number;
  /** Upstream requests per timed call (1: no token fetch, retry or listing on the way). */
  upstreamRequestsPerCall: number;
  result: RunResult;
}

export interface ProvidersSection {
  /** "pending" while not written; "skipped" when the part was not asked for (--only). */
  status: "measured" | "pending" | "skipped";
  note: string;
  /** How the upstream's own time was measured. */
  method?: string;
  runs: ProviderRun[];
}

/**
 * Issue 4, item 4 (providers): Terminate through each provider type against its fake upstream
 * (bench/fakes/) with 0 ms and 20 ms injected latency, at 1 and 16 calls in flight, driven by
 * the load generator with a distinct pre-encoded request per call. Reports the call's latency,
 * the upstream's own time measured inside the fake, the service's overhead per call (latency
 * minus the upstream's time for the same call), and the connections the fake accepted.
 */
export async function runProviderBenchmarks(ctx: ScenarioContext): Promise<ProvidersSection> {
  if (!ctx.opts.parts.has("providers")) return { status: "skipped", note: "not run (--only)", runs: [] };
  process.stderr.write("providers:\n");
  const runs = await guarded(ctx, "providers", () => measureProviders(ctx), undefined);
  if (!runs) return { status: "measured", note: "the provider runs failed (see problems)", method: UPSTREAM_TIME_METHOD, runs: [] };
  const types = ctx.opts.providerTypes.join(", ");
  return { status: "measured", note: `Terminate through ${types} against fake upstreams`, method: UPSTREAM_TIME_METHOD, runs };
}

interface Plan {
  latencyMs: number;
  concurrency: number;
  calls: number;
}

/** Types whose Terminate ends a user's sessions, named by user_id. */
const USER_WIDE: ReadonlySet<UpstreamType> = new Set(["luckymonaco", "entra", "google"]);

/** What a run of `type` sends: the session id (the player for LuckyMonaco) of frame i. */
function keyOf(type: UpstreamType, i: number): string {
  if (type === "kratos") return benchUuid(`kratos session ${i}`);
  return { zitadel: `zs-${i}`, rocketchat: `rcs-${i}`, senhasegura: `sss-${i}`, luckymonaco: `player-${i}`, keycloak: `kcs-${i}`, entra: `eu-${i}@bench.example`, google: `gu-${i}@bench.example`, okta: `oks-${i}`, auth0: `a0s-${i}` }[type];
}

function frameOf(type: UpstreamType, i: number): Buffer {
  // LuckyMonaco ends a player's sessions, Entra and Google all of a user's: user_id is what they need; session_id is required by the API all the same.
  return USER_WIDE.has(type) ? terminateFrame(`${type}-${i}`, type, keyOf(type, i)) : terminateFrame(keyOf(type, i), type);
}

async function measureProviders(ctx: ScenarioContext): Promise<ProviderRun[]> {
  const { opts } = ctx;
  const plan: Plan[] = opts.providerLatencies.flatMap((latencyMs) => opts.providerConcurrency.map((concurrency) => ({ latencyMs, concurrency, calls: opts.providerCallsFor(latencyMs, concurrency) })));
  // Frame 0 of each type is the probe; then warm-up and timed frames of each run, in plan order.
  const perType = 1 + plan.reduce((n, p) => n + opts.providerWarmup + p.calls, 0);
  const frameFiles = new Map<UpstreamType, string>();
  for (const type of opts.providerTypes) {
    const file = join(ctx.tmp, `provider-${type}.frames`);
    await writeFrameFile(file, (function* () {
      for (let i = 0; i < perType; i++) yield frameOf(type, i);
    })());
    frameFiles.set(type, file);
  }

  const fakes = await FakeUpstreams.start();
  const runs: ProviderRun[] = [];
  try {
    const secrets = join(ctx.tmp, "provider-secrets");
    mkdirSync(secrets, { recursive: true });
    const env = await prepareService(ctx.tmp, "providers", opts.serviceLogLevel, { providers: fakeProviderConfig(fakes, secrets, opts.providerTypes) });
    const server = await startServiceProcess(env, opts.serviceNodeFlags);
    try {
      // One call through each provider before anything is timed: it must answer rightly.
      const client = await UnaryClient.connect(server.port);
      try {
        for (const type of opts.providerTypes) {
          const answer = await client.call(PATHS.terminate, frameOf(type, 0), env.headers);
          const wrong = answer.status !== "0" ? [`grpc-status ${answer.status} ${answer.message}`] : providerProblems(type)([answer.body]);
          if (wrong.length > 0) throw new Error(`Terminate through ${type} answers wrongly: ${wrong.join("; ")}`);
        }
      } finally {
        await client.close();
      }
      const offsets = new Map(opts.providerTypes.map((t) => [t, 1]));
      for (const p of plan) {
        await fakes.setLatency(p.latencyMs);
        for (const type of opts.providerTypes) {
          const offset = offsets.get(type)!;
          offsets.set(type, offset + opts.providerWarmup + p.calls);
          runs.push(await measureOne(ctx, fakes, server, env.headers, type, frameFiles.get(type)!, offset, p));
        }
      }
      await ctx.gen.disconnect();
    } finally {
      ctx.servers.push({ ...(await server.stop()), name: "service (providers)" });
    }
  } finally {
    await fakes.stop();
  }
  return runs;
}

async function measureOne(
  ctx: ScenarioContext,
  fakes: FakeUpstreams,
  server: ServerProcess,
  headers: Record<string, string>,
  type: UpstreamType,
  framesFile: string,
  offset: number,
  p: Plan,
): Promise<ProviderRun> {
  const start = (await fakes.take())[type];
  let timedStart: FakeStats | undefined;
  const raw = await measureRaw(ctx.gen, server, {
    call: `Terminate via ${type}, upstream +${p.latencyMs} ms`,
    path: PATHS.terminate,
    headers,
    framesFile,
    distinct: true,
    offset,
    concurrency: p.concurrency,
    warmup: ctx.opts.providerWarmup,
    units: p.calls,
    check: providerProblems(type),
    beforeTimed: async () => {
      timedStart = (await fakes.take())[type];
    },
  });
  const end = (await fakes.take())[type];
  const timed = fakeDelta(timedStart!, end);
  const whole = fakeDelta(start, end);
  const problems = [...raw.result.problems];
  if (whole.duplicates > 0) problems.push(`the fake saw ${whole.duplicates} end requests for sessions already ended`);
  if (whole.refused > 0) problems.push(`the fake refused ${whole.refused} requests: ${end.refusals.join("; ")}`);

  // Pair each timed call with the fake's own time for the same session.
  const own = new Map<string, number>();
  end.times.keys.forEach((k, i) => own.set(k, end.times.ns[i]!));
  const latencies = raw.timed.latenciesNs;
  const upstream: number[] = [];
  const overhead: number[] = [];
  let unseen = 0;
  for (let u = 0; u < latencies.length; u++) {
    const ns = own.get(keyOf(type, raw.timedOffset + u));
    if (ns === undefined) {
      unseen++;
      continue;
    }
    upstream.push(ns);
    overhead.push(latencies[u]! - ns);
  }
  if (unseen > 0 && raw.result.problems.length === 0) problems.push(`${unseen} timed calls reached no end request at the fake`);
  const up = summarize(Float64Array.from(upstream));
  const over = summarize(Float64Array.from(overhead));
  const result: RunResult = { ...raw.result, server: "service", problems };
  const requests = Object.values(timed.requests).reduce((a, b) => a + b, 0);
  const run: ProviderRun = {
    provider: type,
    upstreamLatencyMs: p.latencyMs,
    concurrency: p.concurrency,
    calls: p.calls,
    callP50Ms: result.latencyMs!.p50,
    callP99Ms: result.latencyMs!.p99,
    upstreamP50Ms: up.p50,
    upstreamP99Ms: up.p99,
    overheadP50Ms: over.p50,
    overheadP99Ms: over.p99,
    upstreamConnections: whole.connections,
    upstreamConnectionsTotal: end.connections,
    upstreamRequestsPerCall: requests / p.calls,
    result,
  };
  progress(result);
  process.stderr.write(
    `  ${"".padEnd(12)} upstream p50 ${run.upstreamP50Ms.toFixed(2)} ms  p99 ${run.upstreamP99Ms.toFixed(2)} ms  ` +
      `overhead p50 ${run.overheadP50Ms.toFixed(3)} ms  p99 ${run.overheadP99Ms.toFixed(3)} ms  ` +
      `upstream connections ${run.upstreamConnections} (total ${run.upstreamConnectionsTotal})  requests/call ${run.upstreamRequestsPerCall.toFixed(2)}\n`,
  );
  ctx.problems.push(...problems.map((m) => `providers: ${type} at +${p.latencyMs} ms, ${p.concurrency} in flight: ${m}`));
  return run;
}

/** Every answer: ended through this provider, not before; Zitadel's details as its fake gives them. */
function providerProblems(type: UpstreamType): (messages: Uint8Array[]) => string[] {
  return (messages) => {
    for (const m of messages) {
      const r = fromBinary(TerminateResponseSchema, m);
      if (r.provider !== type) return [`TerminateResponse.provider is "${r.provider}", expected "${type}"`];
      if (r.alreadyTerminated) return ["TerminateResponse.already_terminated is true for a session ended for the first time"];
      if (!r.details) return ["TerminateResponse has no details"];
      if (type === "zitadel" && r.details.resourceOwner !== ZITADEL_FAKE_OWNER) return [`TerminateResponse.details.resource_owner is "${r.details.resourceOwner}"`];
    }
    return [];
  };
}
