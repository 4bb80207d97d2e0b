import { parseArgs } from "node:util";
import { UPSTREAM_TYPES, type UpstreamType } from "./fakes/protocol.js";
import { serviceNodeFlags } from "./node-flags.js";

export interface Options {
  smoke: boolean;
  /** Calls in flight for the comparison and headline runs. */
  concurrency: number[];
  /** Timed calls per run; by default fewer at 1 in flight, where each call waits for the last. */
  callsFor: (concurrency: number) => number;
  warmupFor: (concurrency: number) => number;
  /** Sessions in the store for the growth runs. */
  growthSizes: number[];
  growthConcurrency: number;
  growthCalls: number;
  growthWarmup: number;
  /** Users with this many sessions, for ListSessions. */
  listUsers: number[];
  listCalls: number;
  listWalks: number;
  /** The service's log_level: "info" (its default, one line per call) unless told otherwise. */
  serviceLogLevel: string;
  h2load: boolean;
  /** Provider types measured by Terminate through their fake upstreams (issue 4, item 4). */
  providerTypes: UpstreamType[];
  /** Latency each fake upstream injects into every answer, ms. */
  providerLatencies: number[];
  providerConcurrency: number[];
  providerCallsFor: (latencyMs: number, concurrency: number) => number;
  providerWarmup: number;
  /** TerminateUser on the embedded store: users with this many sessions (issue 5, item 6). */
  terminateUserSizes: number[];
  /** Users of each size, each signed out once: the report gives the median time and the largest peak RSS. */
  terminateUserRepeats: number;
  /** TerminateUser across the fake providers: timed calls (one user each), warm-up calls, latency. */
  fanOutCalls: number;
  fanOutWarmup: number;
  fanOutLatencyMs: number;
  /** TerminateUser limited to one provider at a time, calls per provider (its floor measured alone). */
  fanOutAloneCalls: number;
  /** The PostgreSQL for the Terminate runs on PostgreSQL; a fresh schema is made and dropped. */
  postgresUrl: string;
  postgresCallsFor: (concurrency: number) => number;
  postgresWarmupFor: (concurrency: number) => number;
  /** Parts to run: "comparison", "service", "growth", "providers", "terminate-user", "postgres". */
  parts: Set<string>;
  growth: boolean;
  list: boolean;
  /** Extra node flags for the service's process (e.g. --max-semi-space-size=16), for experiments. */
  serviceNodeFlags: string[];
  outDir: string;
}

const USAGE = `usage: npm run bench -- [--smoke] [--calls N] [--warmup N] [--concurrency 1,16,64]
  [--growth-sizes 1000,100000,1000000] [--growth-calls N] [--growth-concurrency N] [--no-growth]
  [--list-users 10,1000,10000] [--list-calls N] [--list-walks N] [--no-list]
  [--service-log-level info|silent|...] [--service-node-flags="--flag ..."] [--no-h2load]
  [--provider-types zitadel,rocketchat,senhasegura,luckymonaco,keycloak,kratos,entra,google,okta,auth0] [--provider-latencies 0,20]
  [--provider-concurrency 1,16] [--provider-calls N]
  [--terminate-user-sizes 10,1000,10000] [--terminate-user-repeats N]
  [--fan-out-calls N] [--fan-out-latency MS] [--fan-out-alone-calls N]
  [--postgres-url postgres://...] [--postgres-calls N]
  [--only comparison,service,growth,providers,terminate-user,postgres] [--out DIR]`;

/** Reads the flags; a mistake ends the process with the usage and exit code 2. */
export function parseOptions(argv: string[]): Options {
  try {
    return parse(argv);
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

function parse(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      smoke: { type: "boolean", default: false },
      calls: { type: "string" },
      warmup: { type: "string" },
      concurrency: { type: "string" },
      "growth-sizes": { type: "string" },
      "growth-calls": { type: "string" },
      "growth-concurrency": { type: "string" },
      "no-growth": { type: "boolean", default: false },
      "list-users": { type: "string" },
      "list-calls": { type: "string" },
      "list-walks": { type: "string" },
      "no-list": { type: "boolean", default: false },
      "service-log-level": { type: "string" },
      "service-node-flags": { type: "string" },
      "no-h2load": { type: "boolean", default: false },
      "provider-types": { type: "string" },
      "provider-latencies": { type: "string" },
      "provider-concurrency": { type: "string" },
      "provider-calls": { type: "string" },
      "terminate-user-sizes": { type: "string" },
      "terminate-user-repeats": { type: "string" },
      "fan-out-calls": { type: "string" },
      "fan-out-latency": { type: "string" },
      "fan-out-alone-calls": { type: "string" },
      "postgres-url": { type: "string" },
      "postgres-calls": { type: "string" },
      only: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const smoke = values.smoke;
  const calls = values.calls === undefined ? undefined : positive("--calls", values.calls);
  const warmup = values.warmup === undefined ? undefined : whole("--warmup", values.warmup);
  const callsFor = (c: number) => calls ?? (smoke ? 200 : c === 1 ? 5_000 : 20_000);
  const growthSizes = list("--growth-sizes", values["growth-sizes"] ?? (smoke ? "1000" : "1000,100000,1000000"));
  const growthCalls = values["growth-calls"] === undefined ? (smoke ? 200 : 800) : positive("--growth-calls", values["growth-calls"]);
  // Warm-up ends one already-ended session over and over: distinct sessions are scarce in a store of 10^3.
  const growthWarmup = smoke ? 100 : 2_000;
  if (growthCalls + 1 > Math.min(...growthSizes)) {
    throw new Error(`--growth-calls: ${growthCalls} calls need more distinct sessions than the smallest store (${Math.min(...growthSizes)}) has`);
  }
  const providerCalls = values["provider-calls"] === undefined ? undefined : positive("--provider-calls", values["provider-calls"]);
  // Full: enough calls for a stable p99 in about 25 s per provider type; smoke: a handful.
  const providerCallsFor = (latencyMs: number, c: number) => providerCalls ?? (smoke ? (c === 1 ? 10 : 2 * c) : latencyMs === 0 ? (c === 1 ? 2_000 : 5_000) : c === 1 ? 500 : 2_000);
  const postgresCalls = values["postgres-calls"] === undefined ? undefined : positive("--postgres-calls", values["postgres-calls"]);
  return {
    smoke,
    concurrency: list("--concurrency", values.concurrency ?? (smoke ? "1,16" : "1,16,64")),
    callsFor,
    warmupFor: (c) => warmup ?? (smoke ? 50 : Math.min(2_000, Math.max(200, Math.round(callsFor(c) / 10)))),
    growthSizes,
    growthConcurrency: values["growth-concurrency"] === undefined ? 1 : positive("--growth-concurrency", values["growth-concurrency"]),
    growthCalls,
    growthWarmup,
    listUsers: list("--list-users", values["list-users"] ?? "10,1000,10000"),
    listCalls: values["list-calls"] === undefined ? (smoke ? 50 : 1_000) : positive("--list-calls", values["list-calls"]),
    listWalks: values["list-walks"] === undefined ? (smoke ? 2 : 20) : positive("--list-walks", values["list-walks"]),
    serviceLogLevel: values["service-log-level"] ?? "info",
    h2load: !smoke && !values["no-h2load"],
    providerTypes: types(values["provider-types"]),
    providerLatencies: list("--provider-latencies", values["provider-latencies"] ?? "0,20", true),
    providerConcurrency: list("--provider-concurrency", values["provider-concurrency"] ?? "1,16"),
    providerCallsFor,
    providerWarmup: smoke ? 5 : 200,
    terminateUserSizes: list("--terminate-user-sizes", values["terminate-user-sizes"] ?? (smoke ? "10,100" : "10,1000,10000")),
    terminateUserRepeats: values["terminate-user-repeats"] === undefined ? (smoke ? 1 : 3) : positive("--terminate-user-repeats", values["terminate-user-repeats"]),
    fanOutCalls: values["fan-out-calls"] === undefined ? (smoke ? 5 : 50) : positive("--fan-out-calls", values["fan-out-calls"]),
    fanOutWarmup: smoke ? 2 : 10,
    fanOutLatencyMs: values["fan-out-latency"] === undefined ? 20 : whole("--fan-out-latency", values["fan-out-latency"]),
    fanOutAloneCalls: values["fan-out-alone-calls"] === undefined ? (smoke ? 2 : 20) : positive("--fan-out-alone-calls", values["fan-out-alone-calls"]),
    postgresUrl: values["postgres-url"] ?? process.env["BENCH_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test",
    postgresCallsFor: (c) => postgresCalls ?? (smoke ? 50 : callsFor(c)),
    postgresWarmupFor: (c) => (smoke ? 10 : warmup ?? Math.min(2_000, Math.max(200, Math.round((postgresCalls ?? callsFor(c)) / 10)))),
    parts: parts(values.only),
    growth: !values["no-growth"],
    list: !values["no-list"],
    // By default the flags the service's command line runs with.
    serviceNodeFlags: values["service-node-flags"]?.split(/\s+/).filter(Boolean) ?? serviceNodeFlags(new URL("../src/cli.ts", import.meta.url).pathname),
    outDir: values.out ?? "",
  };
}

const PARTS = ["comparison", "service", "growth", "providers", "terminate-user", "postgres"];

function types(value: string | undefined): UpstreamType[] {
  if (value === undefined) return [...UPSTREAM_TYPES];
  const chosen = value.split(",").map((t) => t.trim());
  for (const t of chosen) if (!(UPSTREAM_TYPES as readonly string[]).includes(t)) throw new Error(`--provider-types: "${t}" is not one of ${UPSTREAM_TYPES.join(", ")}`);
  return chosen as UpstreamType[];
}

function parts(value: string | undefined): Set<string> {
  const chosen = (value ?? PARTS.join(",")).split(",").map((p) => p.trim());
  for (const p of chosen) if (!PARTS.includes(p)) throw new Error(`--only: "${p}" is not one of ${PARTS.join(", ")}`);
  return new Set(chosen);
}

function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: must be a whole number above 0`);
  return n;
}

function whole(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: must be a whole number`);
  return n;
}

function list(flag: string, value: string, zeroAllowed = false): number[] {
  const items = value.split(",").map((v) => (zeroAllowed ? whole(flag, v.trim()) : positive(flag, v.trim())));
  if (items.length === 0) throw new Error(`${flag}: give at least one number`);
  return items;
}
