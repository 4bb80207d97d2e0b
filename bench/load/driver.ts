import { fork, type ChildProcess } from "node:child_process";
import { jsPath } from "../build.js";
import type { FromGenerator, Job, JobResult, ToGenerator } from "./job.js";

/** The parent's handle on the load generator child. */
export class LoadGenerator {
  private waiters: ((m: FromGenerator) => void)[] = [];

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (m: FromGenerator) => this.waiters.shift()?.(m));
    child.on("exit", (code) => {
      for (const w of this.waiters.splice(0)) w({ type: "error", message: `load generator exited (code ${code})` });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  static async start(): Promise<LoadGenerator> {
    // execArgv: [] so that the child does not inherit the parent's tsx loader: it runs transpiled JavaScript.
    const child = fork(jsPath("bench/load/generator.ts"), [], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "advanced" });
    const gen = new LoadGenerator(child);
    const first = await gen.next();
    if (first.type !== "ready") throw new Error(`load generator failed to start: ${JSON.stringify(first)}`);
    return gen;
  }

  async run(job: Job): Promise<JobResult> {
    this.child.send({ cmd: "run", job } satisfies ToGenerator);
    const m = await this.next();
    if (m.type !== "result") throw new Error(`load generator: ${m.type === "error" ? m.message : m.type}`);
    return m.result;
  }

  /** Closes the generator's connections (before the server they go to stops). */
  async disconnect(): Promise<void> {
    this.child.send({ cmd: "disconnect" } satisfies ToGenerator);
    await this.next();
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.send({ cmd: "exit" } satisfies ToGenerator);
    await exited;
  }

  private next(): Promise<FromGenerator> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
