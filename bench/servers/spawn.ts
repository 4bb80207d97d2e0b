import { fork, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { jsPath } from "../build.js";
import { readMemory, resetPeakRss } from "../proc-memory.js";
import type { ChildUsage, FromChild, ToChild } from "./child.js";

/** The comparison servers and the service, by the name the report uses. */
export const SERVER_ENTRIES = {
  "raw-http2": "bench/servers/raw-http2.ts",
  "grpc-js": "bench/servers/grpc-js.ts",
  "connect-node": "bench/servers/connect-node.ts",
  service: "bench/servers/service.ts",
} as const;
export type ServerName = keyof typeof SERVER_ENTRIES;

/** A server's life in one line of the report. */
export interface ServerSummary {
  name: string;
  /** RSS right after it started listening, MB. */
  startRssMb?: number;
  /** Lifetime peak RSS (getrusage), MB, read just before it stopped. */
  lifetimePeakRssMb?: number;
  /** CPU time over its whole life, seconds. */
  cpuSeconds?: number;
}

const ASK_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 30_000;

export interface SpawnOptions {
  args?: string[];
  /** The child's stdout goes to this file (the service's call log); otherwise it is discarded. */
  stdoutFile?: string;
  nodeFlags?: string[];
  /** The name in the report, when it differs from the entry's (e.g. "service (postgres)"). */
  displayName?: string;
}

/** A server child on bare node: its port, its CPU time and its peak RSS, measured per run. */
export class ServerProcess {
  private waiters: ((m: FromChild) => void)[] = [];
  readonly startRssMb: number | undefined;

  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    child.on("message", (m: FromChild) => this.waiters.shift()?.(m));
    const rss = this.memory()?.rss;
    this.startRssMb = rss === undefined ? undefined : rss / (1024 * 1024);
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(name: ServerName, opts: SpawnOptions = {}): Promise<ServerProcess> {
    const out = opts.stdoutFile ? openSync(opts.stdoutFile, "a") : "ignore";
    const child = fork(jsPath(SERVER_ENTRIES[name]), opts.args ?? [], {
      // Only the flags asked for: not the parent's tsx loader (the child runs transpiled JavaScript).
      execArgv: opts.nodeFlags ?? [],
      stdio: ["ignore", out, "inherit", "ipc"],
      serialization: "advanced",
    });
    if (typeof out === "number") closeSync(out);
    const first = await new Promise<FromChild>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`${name} server did not start listening within ${START_TIMEOUT_MS / 1000} s`));
      }, START_TIMEOUT_MS);
      child.once("message", (m: FromChild) => {
        clearTimeout(timer);
        resolve(m);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`${name} server exited (code ${code}) before it was ready`));
      });
    });
    if (first.type !== "ready") {
      child.kill();
      throw new Error(`${name} server failed to start: ${first.type === "error" ? first.message : first.type}`);
    }
    child.removeAllListeners("exit");
    return new ServerProcess(opts.displayName ?? name, first.port, child);
  }

  async usage(gc = false): Promise<ChildUsage> {
    const m = await this.ask({ cmd: "usage", gc });
    if (m.type !== "usage") throw new Error(`${this.name}: unexpected answer ${m.type}`);
    return m.usage;
  }

  /** Resets the kernel's peak RSS (VmHWM) of the child, so that a run's own peak can be read. */
  resetPeakRss(): boolean {
    return resetPeakRss(this.pid);
  }

  /** VmHWM and VmRSS of the child, in bytes (Linux). */
  memory(): { peakRss: number; rss: number } | undefined {
    return readMemory(this.pid);
  }

  /** Stops the child (gracefully, then by force) and sums up its life. */
  async stop(): Promise<ServerSummary> {
    const summary: ServerSummary = { name: this.name, ...(this.startRssMb !== undefined && { startRssMb: this.startRssMb }) };
    if (this.child.exitCode !== null) return summary;
    try {
      const u = await this.usage();
      summary.lifetimePeakRssMb = u.maxRssKb / 1024;
      summary.cpuSeconds = (u.userUs + u.systemUs) / 1e6;
    } catch {
      // stuck or gone: it is stopped by force below
    }
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    if (this.child.connected) this.child.send({ cmd: "stop" } satisfies ToChild);
    else this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
    return summary;
  }

  private ask(m: ToChild): Promise<FromChild> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name} server did not answer "${m.cmd}" within ${ASK_TIMEOUT_MS / 1000} s`));
      }, ASK_TIMEOUT_MS);
      const waiter = (answer: FromChild) => {
        clearTimeout(timer);
        resolve(answer);
      };
      this.waiters.push(waiter);
      this.child.send(m);
    });
  }
}
