import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fromBinary } from "@bufbuild/protobuf";
import { GetOperationResponseSchema, TerminateUserResponseSchema, type Operation } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { layOut, seedSessions } from "../data/seed.js";
import { fakeDelta, fakeProviderConfig, FakeUpstreams } from "../fakes/driver.js";
import { providerUserIdsOf, UPSTREAM_TYPES, type FakeStats, type UpstreamType } from "../fakes/protocol.js";
import { writeFrameFile } from "../load/frames.js";
import { UnaryClient } from "../load/once.js";
import { getOperationFrame, PATHS, terminateUserFrame } from "../load/requests.js";
import { measure, type RunResult } from "../measure.js";
import type { ServerProcess } from "../servers/spawn.js";
import { guarded, progress, type ScenarioContext } from "./context.js";
import { prepareService, startServiceProcess, type ServiceEnv } from "./service-env.js";

/** GetOperation is asked this often while a TerminateUser goes on in the background. */
export const POLL_MS = 50;
/** A sign-out that is not done by then is reported as a problem. */
const GIVE_UP_MS = 10 * 60_000;
const MB = 1024 * 1024;

/** One TerminateUser on the embedded store. */
export interface TerminateUserTrial {
  userId: string;
  /** The TerminateUser call itself, ms. */
  callMs: number;
  /** Whether the call answered with done = true (otherwise GetOperation was polled every POLL_MS). */
  doneAtReturn: boolean;
  /** From the call's start until the operation was seen done, ms. */
  doneMs: number;
  polls: number;
  /** The service's VmHWM from just before the call until done, MB. */
  peakRssMb?: number;
  /** The service's CPU time (user + system) from the call until done, ms. */
  cpuMs: number;
  sessionsEnded: number;
}

export interface TerminateUserSize {
  /** Sessions of each user signed out. */
  sessions: number;
  trials: TerminateUserTrial[];
  medianDoneMs: number;
  minDoneMs: number;
  maxDoneMs: number;
  medianCallMs: number;
  /** Sessions ended per second, at the median. */
  sessionsPerSec: number;
  maxPeakRssMb?: number;
  medianCpuMs: number;
}

/** One provider's part in TerminateUser: the upstream round trips one sign-out takes there, one after another. */
export interface ProviderFloor {
  provider: UpstreamType;
  /** Upstream requests per TerminateUser, by route, in the timed calls of the run across every fake provider. */
  requestsPerCall: Record<string, number>;
  /** Requests in sequence per sign-out: a listing, then the end (LuckyMonaco: the end only). */
  roundTrips: number;
  /** roundTrips x the injected latency: no sign-out through this provider can be faster. */
  floorMs: number;
  /** TerminateUser asking for this provider alone (providers: [name]). */
  alone?: RunResult;
}

export interface FanOutResult {
  latencyMs: number;
  /** TerminateUser across every fake provider, 1 in flight, a distinct user per call. */
  result: RunResult;
  floors: ProviderFloor[];
  /** The slowest provider's floor: the fan-out's own floor when the providers run concurrently. */
  floorMs: number;
  /** The sum of the floors: what running the providers one after another would cost at least. */
  sequentialFloorMs: number;
  /** Connections each fake accepted during the fan-out runs. */
  connections: Record<string, number>;
}

export interface TerminateUserSection {
  status: "measured" | "skipped";
  note: string;
  /** Sessions in the store (the users' and everyone else's). */
  storeSessions: number;
  sizes: TerminateUserSize[];
  fanOut?: FanOutResult;
}

/** Issue 5, item 6: TerminateUser on the embedded store (10, 1k, 10k sessions) and across every fake provider. */
export async function runTerminateUser(ctx: ScenarioContext): Promise<TerminateUserSection> {
  if (!ctx.opts.parts.has("terminate-user")) return { status: "skipped", note: "not run (--only)", storeSessions: 0, sizes: [] };
  process.stderr.write("terminate-user:\n");
  const store = await guarded(ctx, "TerminateUser on the embedded store", () => onEmbeddedStore(ctx), { storeSessions: 0, sizes: [] });
  const fanOut = await guarded(ctx, "TerminateUser across four providers", () => acrossProviders(ctx), undefined);
  return { status: "measured", note: "TerminateUser on the embedded store and across four fake providers", ...store, ...(fanOut && { fanOut }) };
}

function userOfSize(sessions: number, repeat: number): string {
  return `tu-${sessions}-${repeat}`;
}

async function onEmbeddedStore(ctx: ScenarioContext): Promise<{ storeSessions: number; sizes: TerminateUserSize[] }> {
  const { opts } = ctx;
  const env = await prepareService(ctx.tmp, "terminate-user", opts.serviceLogLevel);
  const sizes = [...new Set(opts.terminateUserSizes)].sort((a, b) => a - b);
  const warmupUser = { userId: "tu-warmup", sessions: 20 };
  const users = [warmupUser, ...sizes.flatMap((n) => Array.from({ length: opts.terminateUserRepeats }, (_, r) => ({ userId: userOfSize(n, r), sessions: n })))];
  // Everyone else's sessions around them, as in a store in use.
  const others = opts.smoke ? 1_000 : 20_000;
  const total = others + users.reduce((a, u) => a + u.sessions, 0);
  const { userOf } = layOut(total, users);
  const seedMs = seedSessions(env.dbFile, 0, total, userOf);
  process.stderr.write(`  seeded ${total} sessions in ${(seedMs / 1000).toFixed(1)} s\n`);

  const server = await startServiceProcess(env, opts.serviceNodeFlags);
  const results: TerminateUserSize[] = [];
  try {
    const client = await UnaryClient.connect(server.port);
    try {
      await signOut(client, server, env, warmupUser.userId, warmupUser.sessions);
      for (const n of sizes) {
        const trials: TerminateUserTrial[] = [];
        for (let r = 0; r < opts.terminateUserRepeats; r++) {
          const t = await signOut(client, server, env, userOfSize(n, r), n);
          process.stderr.write(
            `  TerminateUser of a user with ${String(n).padStart(6)} sessions: done in ${t.doneMs.toFixed(1)} ms (call ${t.callMs.toFixed(1)} ms, ` +
              `${t.doneAtReturn ? "done at return" : `${t.polls} polls`}), service CPU ${t.cpuMs.toFixed(0)} ms, peak RSS ${t.peakRssMb?.toFixed(0) ?? "?"} MB\n`,
          );
          trials.push(t);
        }
        const done = median(trials.map((t) => t.doneMs));
        const rss = trials.map((t) => t.peakRssMb).filter((v): v is number => v !== undefined);
        results.push({
          sessions: n,
          trials,
          medianDoneMs: done,
          minDoneMs: Math.min(...trials.map((t) => t.doneMs)),
          maxDoneMs: Math.max(...trials.map((t) => t.doneMs)),
          medianCallMs: median(trials.map((t) => t.callMs)),
          sessionsPerSec: n / (done / 1000),
          ...(rss.length > 0 && { maxPeakRssMb: Math.max(...rss) }),
          medianCpuMs: median(trials.map((t) => t.cpuMs)),
        });
      }
    } finally {
      await client.close();
    }
  } finally {
    ctx.servers.push({ ...(await server.stop()), name: "service (TerminateUser)" });
  }
  return { storeSessions: total, sizes: results };
}

/** One TerminateUser, then GetOperation until done; checks that every session was ended. */
async function signOut(client: UnaryClient, server: ServerProcess, env: ServiceEnv, userId: string, sessions: number): Promise<TerminateUserTrial> {
  const before = await server.usage();
  server.resetPeakRss();
  const t0 = process.hrtime.bigint();
  const answer = await client.call(PATHS.terminateUser, terminateUserFrame(userId, [], "bench: sign out everywhere"), env.headers);
  const callMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (answer.status !== "0") throw new Error(`TerminateUser ${userId}: grpc-status ${answer.status} ${answer.message}`);
  let op = fromBinary(TerminateUserResponseSchema, answer.body).operation;
  if (!op) throw new Error(`TerminateUser ${userId}: no operation in the answer`);
  const doneAtReturn = op.done;
  let polls = 0;
  while (!op.done) {
    if (Number(process.hrtime.bigint() - t0) / 1e6 > GIVE_UP_MS) throw new Error(`TerminateUser ${userId}: not done after ${GIVE_UP_MS / 1000} s`);
    await sleep(POLL_MS);
    const got = await client.call(PATHS.getOperation, getOperationFrame(op.id), env.headers);
    polls++;
    if (got.status !== "0") throw new Error(`GetOperation ${op.id}: grpc-status ${got.status} ${got.message}`);
    const next = fromBinary(GetOperationResponseSchema, got.body).operation;
    if (!next) throw new Error(`GetOperation ${op.id}: no operation in the answer`);
    op = next;
  }
  const doneMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const after = await server.usage();
  const memory = server.memory();
  const wrong = operationProblems(op, [{ provider: "local", ended: sessions }]);
  if (wrong.length > 0) throw new Error(`TerminateUser ${userId}: ${wrong.join("; ")}`);
  return {
    userId,
    callMs,
    doneAtReturn,
    doneMs,
    polls,
    ...(memory && { peakRssMb: memory.peakRss / MB }),
    cpuMs: (after.userUs + after.systemUs - before.userUs - before.systemUs) / 1000,
    sessionsEnded: sessions,
  };
}

/** What is wrong with a finished operation that should have ended `ended` sessions in each provider. */
function operationProblems(op: Operation, expected: { provider: string; ended: number }[]): string[] {
  if (!op.done) return ["the operation is not done"];
  const names = op.providers.map((p) => p.provider).sort();
  const want = expected.map((e) => e.provider).sort();
  if (names.join(",") !== want.join(",")) return [`the operation's providers are [${names.join(", ")}], expected [${want.join(", ")}]`];
  for (const e of expected) {
    const p = op.providers.find((x) => x.provider === e.provider)!;
    if (!p.listed) return [`${e.provider}: not listed`];
    if (p.sessionsEnded !== e.ended || p.sessionsAlreadyEnded !== 0 || p.sessionsPending !== 0 || p.failures.length > 0) {
      const failure = p.failures[0] ? `; first failure: ${p.failures[0].code} ${p.failures[0].reason} ${p.failures[0].message}` : "";
      return [`${e.provider}: ended ${p.sessionsEnded}, already ended ${p.sessionsAlreadyEnded}, pending ${p.sessionsPending}, failures ${p.failures.length}; expected ${e.ended} ended${failure}`];
    }
  }
  return [];
}

/** A check of TerminateUserResponse messages: each operation done, with `expected` sessions ended in each provider. */
function answerProblems(expected: { provider: string; ended: number }[]): (messages: Uint8Array[]) => string[] {
  return (messages) => {
    for (const m of messages) {
      const op = fromBinary(TerminateUserResponseSchema, m).operation;
      const wrong = op ? operationProblems(op, expected) : ["TerminateUserResponse has no operation"];
      if (wrong.length > 0) return wrong;
    }
    return [];
  };
}

/** Sequential upstream requests of one sign-out, by provider type: listing then ending; LuckyMonaco, Entra, Google and Okta list nothing; Auth0 lists to count, then ends all at once. */
const ROUND_TRIPS: Record<UpstreamType, number> = { zitadel: 2, rocketchat: 2, senhasegura: 2, luckymonaco: 1, keycloak: 2, kratos: 2, entra: 1, google: 1, okta: 1, auth0: 2 };

async function acrossProviders(ctx: ScenarioContext): Promise<FanOutResult> {
  const { opts } = ctx;
  const latencyMs = opts.fanOutLatencyMs;
  const aloneWarmup = 1;
  const fanUsers = Array.from({ length: opts.fanOutWarmup + opts.fanOutCalls }, (_, i) => `fo-${i}`);
  const aloneUsers = new Map(UPSTREAM_TYPES.map((t) => [t, Array.from({ length: aloneWarmup + opts.fanOutAloneCalls }, (_, i) => `fo-${t}-${i}`)]));
  const fanFrames = join(ctx.tmp, "fan-out.frames");
  await writeFrameFile(fanFrames, fanUsers.map((u) => terminateUserFrame(u, [], "bench", providerUserIdsOf(u))));

  const fakes = await FakeUpstreams.start();
  try {
    await fakes.setLatency(latencyMs);
    // senhasegura lists every remote session, not one user's: it holds all of them from the start.
    await fakes.seed([...fanUsers, ...[...aloneUsers.values()].flat()]);
    const secrets = join(ctx.tmp, "fan-out-secrets");
    mkdirSync(secrets, { recursive: true });
    const env = await prepareService(ctx.tmp, "fan-out", opts.serviceLogLevel, { providers: fakeProviderConfig(fakes, secrets, UPSTREAM_TYPES) });
    const server = await startServiceProcess(env, opts.serviceNodeFlags);
    try {
      const start = await fakes.take();
      let timedStart: Record<UpstreamType, FakeStats> | undefined;
      const result = await measure(ctx.gen, server, {
        call: `TerminateUser, ${UPSTREAM_TYPES.length} providers +${latencyMs} ms, 1 session each`,
        path: PATHS.terminateUser,
        headers: env.headers,
        framesFile: fanFrames,
        distinct: true,
        concurrency: 1,
        warmup: opts.fanOutWarmup,
        units: opts.fanOutCalls,
        check: answerProblems(UPSTREAM_TYPES.map((provider) => ({ provider, ended: 1 }))),
        beforeTimed: async () => {
          timedStart = await fakes.take();
        },
      });
      progress(result);
      const end = await fakes.take();
      const problems = [...result.problems];
      const floors: ProviderFloor[] = [];
      const connections: Record<string, number> = {};
      for (const t of UPSTREAM_TYPES) {
        const whole = fakeDelta(start[t], end[t]);
        const timed = fakeDelta(timedStart![t], end[t]);
        connections[t] = whole.connections;
        if (whole.ends !== fanUsers.length) problems.push(`${t}: ${whole.ends} end requests for ${fanUsers.length} users`);
        if (whole.duplicates > 0) problems.push(`${t}: ${whole.duplicates} end requests for sessions already ended`);
        if (whole.refused > 0) problems.push(`${t}: the fake refused ${whole.refused} requests: ${end[t].refusals.join("; ")}`);
        const requestsPerCall = Object.fromEntries(Object.entries(timed.requests).map(([route, n]) => [route, n / opts.fanOutCalls]));
        floors.push({ provider: t, requestsPerCall, roundTrips: ROUND_TRIPS[t], floorMs: ROUND_TRIPS[t] * latencyMs });
      }
      result.problems = problems;
      ctx.problems.push(...problems.map((p) => `TerminateUser across four providers: ${p}`));

      // Each provider alone: its own sign-out time next to its floor.
      for (const floor of floors) {
        const file = join(ctx.tmp, `fan-out-${floor.provider}.frames`);
        await writeFrameFile(file, aloneUsers.get(floor.provider)!.map((u) => terminateUserFrame(u, [floor.provider], "bench", providerUserIdsOf(u))));
        const before = await fakes.take();
        const alone = await measure(ctx.gen, server, {
          call: `TerminateUser, ${floor.provider} alone +${latencyMs} ms`,
          path: PATHS.terminateUser,
          headers: env.headers,
          framesFile: file,
          distinct: true,
          concurrency: 1,
          warmup: aloneWarmup,
          units: opts.fanOutAloneCalls,
          check: answerProblems([{ provider: floor.provider, ended: 1 }]),
        });
        const after = await fakes.take();
        const d = fakeDelta(before[floor.provider], after[floor.provider]);
        if (d.ends !== aloneWarmup + opts.fanOutAloneCalls) alone.problems.push(`${d.ends} end requests for ${aloneWarmup + opts.fanOutAloneCalls} users`);
        if (d.duplicates > 0 || d.refused > 0) alone.problems.push(`${d.duplicates} duplicate and ${d.refused} refused requests at the fake`);
        progress(alone);
        ctx.problems.push(...alone.problems.map((p) => `TerminateUser, ${floor.provider} alone: ${p}`));
        floor.alone = alone;
      }
      await ctx.gen.disconnect();
      const floorMs = Math.max(...floors.map((f) => f.floorMs));
      return { latencyMs, result, floors, floorMs, sequentialFloorMs: floors.reduce((a, f) => a + f.floorMs, 0), connections };
    } finally {
      ctx.servers.push({ ...(await server.stop()), name: "service (fan-out)" });
    }
  } finally {
    await fakes.stop();
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 === 1 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
}
