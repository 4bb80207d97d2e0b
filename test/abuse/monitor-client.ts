import { fork, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { FromMonitor, MonitorReport, ToMonitor } from "./monitor.js";

const ANSWER_TIMEOUT_MS = 20_000;

/** The runner's handle on the monitor process (one for the whole run). */
export class Monitor {
  private waiters: ((m: FromMonitor) => void)[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (m: FromMonitor) => this.waiters.shift()?.(m));
  }

  static spawn(): Monitor {
    const child = fork(join(import.meta.dirname, "monitor.ts"), [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    return new Monitor(child);
  }

  /** Connects to the server and starts probing; resolves once both connections answered. */
  async start(port: number, pid: number, adminKey: string): Promise<void> {
    const m = await this.ask({ cmd: "start", port, pid, adminKey });
    if (m.type !== "ready") throw new Error(`monitor: ${m.type === "error" ? m.message : m.type}`);
  }

  async stop(): Promise<MonitorReport> {
    const m = await this.ask({ cmd: "stop" });
    if (m.type !== "report") throw new Error(`monitor: ${m.type === "error" ? m.message : m.type}`);
    return m.report;
  }

  close(): void {
    this.child.kill();
  }

  private ask(m: ToMonitor): Promise<FromMonitor> {
    return new Promise((resolve, reject) => {
      const waiter = (answer: FromMonitor) => {
        clearTimeout(timer);
        resolve(answer);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`monitor did not answer "${m.cmd}" within ${ANSWER_TIMEOUT_MS / 1000} s`));
      }, ANSWER_TIMEOUT_MS);
      this.waiters.push(waiter);
      this.child.send(m);
    });
  }
}
