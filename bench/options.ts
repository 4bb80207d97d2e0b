import { parseArgs } from "node:util";
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
  /** Parts to run: "comparison" (the three comparison servers), "service", "growth". */
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
  [--only comparison,service,growth] [--out DIR]`;

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
    parts: parts(values.only),
    growth: !values["no-growth"],
    list: !values["no-list"],
    // By default the flags the service's command line runs with.
    serviceNodeFlags: values["service-node-flags"]?.split(/\s+/).filter(Boolean) ?? serviceNodeFlags(new URL("../src/cli.ts", import.meta.url).pathname),
    outDir: values.out ?? "",
  };
}

const PARTS = ["comparison", "service", "growth"];

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

function list(flag: string, value: string): number[] {
  const items = value.split(",").map((v) => positive(flag, v.trim()));
  if (items.length === 0) throw new Error(`${flag}: give at least one number`);
  return items;
}
