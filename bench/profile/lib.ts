import { fork, type ChildProcess } from "node:child_process";
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { JS_DIR, ROOT } from "../build.js";
import { random, seedSessions, sessionId, shuffle } from "../data/seed.js";
import type { LoadGenerator } from "../load/driver.js";
import { writeFrameFile } from "../load/frames.js";
import { checkFrame, PATHS, terminateFrame } from "../load/requests.js";
import { measure, type RunResult } from "../measure.js";
import { CHECK_CALL, checkProblems, COMPARISON_HEADERS } from "../scenarios/comparison.js";
import { prepareService, terminateOnce, terminateProblems } from "../scenarios/service-env.js";
import type { ChildUsage, FromChild, ToChild } from "../servers/child.js";
import { readMemory, resetPeakRss } from "../proc-memory.js";
import { SERVER_ENTRIES, type ServerName, type ServerProcess } from "../servers/spawn.js";
import { serviceNodeFlags } from "../node-flags.js";

/**
 * What the profiling and A/B scripts share: variants of a server (Node flags, files laid over the
 * transpiled tree), a server child started from a variant's tree, and one measured run with the
 * harness's own generator and measure().
 */

export interface Variant {
  name: string;
  server: ServerName;
  /** For the service: the call measured. Default "terminate" (a distinct session per call, the headline). */
  call?: "terminate" | "ended" | "check";
  /** Node flags added to the defaults: the service's production flags (src/cli.ts's #! line); none for the others. */
  flags?: string[];
  /** Use `flags` instead of the defaults. */
  replaceFlags?: boolean;
  /**
   * A directory laid over the transpiled tree: each .ts file (path as in the repository, e.g.
   * src/server/rpc-adapter.ts) is transpiled in place of the original; anything else is copied
   * as it is (e.g. node_modules/@connectrpc/connect/... for a patched copy of a package, which
   * the tree's modules then resolve before the project's node_modules).
   */
  overlay?: string;
}

/** The production flags of the service: the #! line of src/cli.ts. */
export const PRODUCTION_FLAGS = serviceNodeFlags(join(ROOT, "src", "cli.ts"));

export function flagsOf(v: Variant): string[] {
  const base = v.replaceFlags ? [] : v.server === "service" ? PRODUCTION_FLAGS : [];
  return [...base, ...(v.flags ?? [])];
}

/** The transpiled tree the variant runs from: the run's own, or a copy with the overlay laid over it. */
export function variantTree(v: Variant): string {
  if (!v.overlay) return JS_DIR;
  const dir = treeDir(v);
  if (existsSync(dir)) return dir;
  cpSync(JS_DIR, dir, { recursive: true });
  const overlay = resolve(ROOT, v.overlay);
  for (const file of walk(overlay)) {
    const rel = relative(overlay, file);
    if (rel.endsWith(".ts") && !rel.endsWith(".d.ts") && !rel.startsWith("node_modules")) {
      const out = join(dir, rel.replace(/\.ts$/, ".js"));
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, transpile(file));
    } else {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      cpSync(file, join(dir, rel));
    }
  }
  return dir;
}

function treeDir(v: Variant): string {
  return `${JS_DIR}-${v.name.replace(/[^A-Za-z0-9_.-]/g, "_")}`;
}

export function removeVariantTrees(variants: Variant[]): void {
  for (const v of variants) if (v.overlay) rmSync(treeDir(v), { recursive: true, force: true });
}

/** The same transpilation as bench/build.ts. */
function transpile(file: string): string {
  return ts.transpileModule(readFileSync(file, "utf8"), {
    fileName: file,
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022, verbatimModuleSyntax: true, sourceMap: false },
  }).outputText;
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* walk(path);
    else yield path;
  }
}

/**
 * A server child started from a variant's tree. The same IPC protocol as bench/servers/spawn.ts
 * (whose ServerProcess always starts the run's own tree); measure() needs only what this has.
 */
export class VariantServer {
  private waiters: ((m: FromChild) => void)[] = [];

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.on("message", (m: FromChild) => this.waiters.shift()?.(m));
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(v: Variant, args: string[], extraFlags: string[] = [], stdoutFile?: string): Promise<VariantServer> {
    const out = stdoutFile ? openSync(stdoutFile, "a") : "ignore";
    const child = fork(join(variantTree(v), SERVER_ENTRIES[v.server].replace(/\.ts$/, ".js")), args, {
      execArgv: [...flagsOf(v), ...extraFlags],
      stdio: ["ignore", out, "inherit", "ipc"],
      serialization: "advanced",
    });
    if (typeof out === "number") closeSync(out);
    const first = await new Promise<FromChild>((resolve, reject) => {
      child.once("message", resolve);
      child.once("exit", (code) => reject(new Error(`${v.name}: server exited (code ${code}) before it was ready`)));
    });
    child.removeAllListeners("exit");
    if (first.type !== "ready") {
      child.kill();
      throw new Error(`${v.name}: ${first.type === "error" ? first.message : first.type}`);
    }
    return new VariantServer(v.server, first.port, child);
  }

  async usage(gc = false): Promise<ChildUsage> {
    const m = await this.ask({ cmd: "usage", gc });
    if (m.type !== "usage") throw new Error(`unexpected answer ${m.type}`);
    return m.usage;
  }

  resetPeakRss(): boolean {
    return resetPeakRss(this.pid);
  }

  memory(): { peakRss: number; rss: number } | undefined {
    return readMemory(this.pid);
  }

  /** Stops the child and waits for it to exit (a --cpu-prof child writes its profile on exit). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.send({ cmd: "stop" } satisfies ToChild);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
  }

  private ask(m: ToChild): Promise<FromChild> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.child.send(m);
    });
  }
}

export interface RunPlan {
  concurrency: number;
  warmup: number;
  calls: number;
}

/** A started server, ready for measured runs of its call. */
export interface Prepared {
  server: VariantServer;
  /** Runs the warm-up (not measured), then `hook.before`, the timed part, `hook.after`. */
  run(hook?: { before?: () => void; after?: () => void }): Promise<RunResult>;
  stop(): Promise<void>;
}

/**
 * Starts the variant's server on fresh data (the service: a fresh store with the sessions the
 * run will end, seeded as the harness does) and checks that it answers rightly.
 */
export async function prepare(v: Variant, gen: LoadGenerator, tmp: string, plan: RunPlan, extraFlags: string[] = []): Promise<Prepared> {
  const dir = join(tmp, `${v.name.replace(/[^A-Za-z0-9_.-]/g, "_")}-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  if (v.server !== "service") {
    const framesFile = join(dir, "check.frames");
    writeFileSync(framesFile, checkFrame("bench"));
    const server = await VariantServer.start(v, [], extraFlags);
    return {
      server,
      run: (hook) => timed(gen, server, { call: CHECK_CALL, path: PATHS.check, headers: COMPARISON_HEADERS, framesFile, distinct: false, check: checkProblems }, plan, hook),
      stop: async () => {
        await gen.disconnect();
        await server.stop();
      },
    };
  }
  const env = await prepareService(dir, "service", "info");
  const call = v.call ?? "terminate";
  const distinct = plan.warmup + plan.calls;
  const total = distinct + 2;
  seedSessions(env.dbFile, 0, total);
  const order = shuffle(Int32Array.from({ length: total }, (_, i) => i), random(4));
  const [probe, ended] = [sessionId(order[0]!), sessionId(order[1]!)];
  const framesFile = join(dir, `${call}.frames`);
  if (call === "terminate") await writeFrameFile(framesFile, (function* () {
    for (let k = 2; k < total; k++) yield terminateFrame(sessionId(order[k]!));
  })());
  else writeFileSync(framesFile, call === "ended" ? terminateFrame(ended) : checkFrame(""));
  const server = await VariantServer.start(v, [env.configFile], extraFlags, env.logFile);
  const wrong = [...(await terminateOnce(server.port, env, probe, false)), ...(await terminateOnce(server.port, env, ended, false))];
  if (wrong.length > 0) {
    await server.stop();
    throw new Error(`${v.name} answers Terminate wrongly: ${wrong.join("; ")}`);
  }
  const spec =
    call === "check"
      ? { call: "Health/Check (service)", path: PATHS.check, headers: env.headers, framesFile, distinct: false, check: checkProblems }
      : { call: call === "terminate" ? "Terminate (distinct sessions)" : "Terminate (already ended)", path: PATHS.terminate, headers: env.headers, framesFile, distinct: call === "terminate", check: terminateProblems(call === "ended") };
  return {
    server,
    run: (hook) => timed(gen, server, spec, plan, hook),
    stop: async () => {
      await gen.disconnect();
      await server.stop();
    },
  };
}

interface CallSpec {
  call: string;
  path: string;
  headers: Record<string, string>;
  framesFile: string;
  distinct: boolean;
  check: (messages: Uint8Array[]) => string[];
}

async function timed(gen: LoadGenerator, server: VariantServer, spec: CallSpec, plan: RunPlan, hook: { before?: () => void; after?: () => void } = {}): Promise<RunResult> {
  // The warm-up apart from measure(), so that a profile window can start after it.
  if (plan.warmup > 0) {
    const warm = await gen.run({ port: server.port, path: spec.path, headers: spec.headers, framesFile: spec.framesFile, distinct: spec.distinct, chain: 1, concurrency: plan.concurrency, keepBodies: 0, offset: 0, units: plan.warmup });
    const bad = Object.entries(warm.statuses).filter(([s]) => s !== "0");
    if (bad.length > 0) throw new Error(`warm-up: ${JSON.stringify(warm.statuses)} ${warm.failures.slice(0, 2).join(" | ")}`);
  }
  hook.before?.();
  const r = await measure(gen, server as unknown as ServerProcess, { ...spec, concurrency: plan.concurrency, warmup: 0, units: plan.calls, offset: spec.distinct ? plan.warmup : 0 });
  hook.after?.();
  if (r.problems.length > 0) throw new Error(`${server.name}: ${r.problems.join("; ")}`);
  return r;
}

/** Median, min and max. */
export function spread(values: number[]): { median: number; min: number; max: number } {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return { median, min: s[0] ?? NaN, max: s[n - 1] ?? NaN };
}

/** "1,234 (1,100–1,300)" */
export function fmt(x: { median: number; min: number; max: number }, digits = 0): string {
  const f = (v: number) => v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${f(x.median)} (${f(x.min)}–${f(x.max)})`;
}
