import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { newApiKey } from "../../src/auth/admin-key.js";
import { sha256Hex } from "../../src/auth/api-keys.js";
import { until } from "./wait.js";

const ROOT = process.cwd();
const CLI = join(ROOT, "src", "cli.ts");

/** The real service as a child process (`node --import tsx src/cli.ts serve --config FILE`), so it can be killed with SIGKILL. */
export interface ChildService {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  client: Client<typeof SessionControl>;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, and waits until the process is gone. */
  kill(): Promise<void>;
}

/** A config file in a temp dir, an API key (session.read + session.delete) for it, and the env its secrets come from. */
export interface ChildSetup {
  dir: string;
  dataDir: string;
  configFile: string;
  key: string;
  env: Record<string, string>;
  /** The key as an authorization header. */
  headers: Record<string, string>;
  cleanup(): void;
}

/**
 * Writes the configuration (`config` is the file's document without api_keys and data_dir,
 * which are added) to a fresh temp dir. `env` holds the values of the `env:` secret references.
 */
export function childSetup(config: Record<string, unknown>, env: Record<string, string> = {}): ChildSetup {
  const dir = mkdtempSync(join(tmpdir(), "session-control-child-"));
  const dataDir = join(dir, "data");
  const key = newApiKey();
  const configFile = join(dir, "config.json");
  const doc = {
    log_level: "info",
    ...config,
    data_dir: dataDir,
    api_keys: [{ name: "operator", sha256: sha256Hex(key), permissions: ["session.create", "session.read", "session.delete"] }],
  };
  // JSON is YAML.
  writeFileSync(configFile, JSON.stringify(doc, null, 2));
  return {
    dir,
    dataDir,
    configFile,
    key,
    env,
    headers: { authorization: `Bearer ${key}` },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * How long the real CLI may take to start (or to fail to start) as a child process: it compiles
 * src/ with tsx and loads every dependency, about 3 s of CPU, which became up to 21 s when two
 * runs of the suite shared the machine. The waits poll, so this only bounds a failure.
 */
export const CHILD_START_MS = 60_000;

/**
 * The timeout of a test that starts the CLI as a process `starts` times and spends up to
 * `restMs` on the rest: vitest's default 30 s is less than its own waits may add up to on a
 * loaded machine, which then killed it while it was still making progress.
 */
export function childTestTimeout(starts: number, restMs = 30_000): number {
  return starts * CHILD_START_MS + restMs;
}

const running = new Set<ChildProcess>();

/** SIGKILLs every child still running (for afterEach). */
export function killAllChildren(): void {
  for (const child of running) child.kill("SIGKILL");
  running.clear();
}

export interface StartOptions {
  /** Default CHILD_START_MS. */
  timeoutMs?: number;
  /** Node.js flags before `--import tsx` (e.g. the production ones of src/cli.ts's `#!` line). */
  nodeFlags?: string[];
  /** Keep only about this many of the last characters of stdout and stderr (a long run under load logs a lot). */
  keepChars?: number;
}

/** Starts the service on port 0 with the setup's config and waits for its "serving" log line. */
export async function startChild(setup: ChildSetup, opts: StartOptions = {}): Promise<ChildService> {
  const { timeoutMs = CHILD_START_MS, nodeFlags = [], keepChars = Infinity } = opts;
  const child = spawn(process.execPath, [...nodeFlags, "--import", "tsx", CLI, "serve", "--config", setup.configFile, "--port", "0"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...setup.env },
  });
  running.add(child);
  let out = "";
  let err = "";
  const keep = (text: string) => (text.length > 2 * keepChars ? text.slice(text.indexOf("\n", text.length - keepChars) + 1) : text);
  child.stdout!.on("data", (c: Buffer) => (out = keep(out + c.toString("utf8"))));
  child.stderr!.on("data", (c: Buffer) => (err = keep(err + c.toString("utf8"))));
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      gone = true;
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  let port: number;
  try {
    port = await until(
      () => `the "serving" line (exited: ${gone})\nstdout:\n${out}\nstderr:\n${err}`,
      () => {
        if (gone) throw new Error(`service did not start (exited)\nstdout:\n${out}\nstderr:\n${err}`);
        return completeLines(out).find((l) => l["msg"] === "serving")?.["port"] as number | undefined;
      },
      { timeoutMs },
    );
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
  const baseUrl = `http://127.0.0.1:${port}`;
  return {
    child,
    port,
    baseUrl,
    client: createClient(SessionControl, createGrpcTransport({ baseUrl })),
    stdout: () => out,
    stderr: () => err,
    exited,
    async kill() {
      child.kill("SIGKILL");
      await exited;
    },
  };
}

/** The JSON log lines written so far (a line still being written is left out). */
export function completeLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .slice(0, -1)
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
