import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createClient } from "@connectrpc/connect";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { codeOf } from "../helpers/clients.js";
import { CHILD_START_MS, childTestTimeout } from "../helpers/child-service.js";
import { GrpcJsClient } from "../helpers/grpc-js.js";
import { until } from "../helpers/wait.js";

const ROOT = process.cwd();
const CLI = join(ROOT, "src", "cli.ts");

/** A port that was free a moment ago: listen on 0, read it, close. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Proc {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "session-control-e2e-"));
  dirs.push(dir);
  return dir;
}

/** Spawns the real CLI: `node --import tsx src/cli.ts ...args`. */
function spawnCli(args: string[]): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (c: Buffer) => (out += c.toString("utf8")));
  child.stderr!.on("data", (c: Buffer) => (err += c.toString("utf8")));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

function logLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Waits for the "serving" log line; fails with the process's output if it exits or takes too long. */
async function waitServing(p: Proc, timeoutMs = CHILD_START_MS): Promise<Record<string, unknown>> {
  let exited = false;
  void p.exited.then(() => (exited = true));
  return until(
    () => `the "serving" line\nstdout:\n${p.stdout()}\nstderr:\n${p.stderr()}`,
    () => {
      const line = logLines(p.stdout().split("\n").slice(0, -1).join("\n")).find((l) => l["msg"] === "serving");
      if (!line && exited) throw new Error(`service did not start (exited)\nstdout:\n${p.stdout()}\nstderr:\n${p.stderr()}`);
      return line;
    },
    { timeoutMs },
  );
}

async function serve(dataDir: string, extra: string[] = []): Promise<{ proc: Proc; port: number; baseUrl: string }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = spawnCli(["serve", "--port", String(port), "--data-dir", dataDir, ...extra]);
    const line = await waitServing(proc).catch(async (err: unknown) => {
      // Another process (a concurrent test run) took the port between freePort and the bind: pick another.
      if (attempt < 5 && (await proc.exited).code !== 0 && proc.stderr().includes("EADDRINUSE")) return undefined;
      throw err;
    });
    if (!line) continue;
    expect(line["port"]).toBe(port);
    return { proc, port, baseUrl: `http://127.0.0.1:${port}` };
  }
}

function adminKey(dataDir: string): string {
  return readFileSync(join(dataDir, "admin.key"), "utf8").trim();
}

afterEach(async () => {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("the CLI as a process", { timeout: childTestTimeout(2) }, () => {
  it("(a) first start with no config writes <data-dir>/admin.key (0600); the log names the path, never the key", async () => {
    const dataDir = tempDir();
    const { proc, baseUrl } = await serve(dataDir);
    const keyPath = join(dataDir, "admin.key");
    const stat = statSync(keyPath);
    expect(stat.isFile()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    const key = adminKey(dataDir);
    expect(key).toMatch(/^sck_[A-Za-z0-9_-]{43}$/);

    const logs = logLines(proc.stdout());
    const announce = logs.find((l) => l["path"] === keyPath);
    expect(announce, proc.stdout()).toBeDefined();
    expect(announce!["created"]).toBe(true);

    // The key works, and using it does not put it in the log either.
    const client = createClient(SessionControl, createGrpcTransport({ baseUrl }));
    const created = await client.createSession({ userId: "u-a" }, { headers: { authorization: `Bearer ${key}` } });
    expect(created.sessionId).toMatch(/^[0-9a-f]{32}$/);
    await client.terminate({ sessionId: created.sessionId }, { headers: { authorization: `Bearer ${key}` } });

    proc.child.kill("SIGTERM");
    expect((await proc.exited).code).toBe(0);
    expect(proc.stdout()).not.toContain(key);
    expect(proc.stderr()).not.toContain(key);
    expect(proc.stdout()).not.toContain(key.slice(4, 20));

    // A second start reuses the file and says it did not create it.
    const second = await serve(dataDir);
    expect(adminKey(dataDir)).toBe(key);
    const again = logLines(second.proc.stdout()).find((l) => l["path"] === keyPath);
    expect(again!["created"]).toBe(false);
    second.proc.child.kill("SIGTERM");
    expect((await second.proc.exited).code).toBe(0);
  });

  it("(b) a termination acknowledged just before SIGKILL survives a restart", async () => {
    const dataDir = tempDir();
    const first = await serve(dataDir);
    const key = adminKey(dataDir);
    const headers = { authorization: `Bearer ${key}` };
    const client = createClient(SessionControl, createGrpcTransport({ baseUrl: first.baseUrl }));
    const created = await client.createSession({ userId: "u-b" }, { headers });
    const ended = await client.terminate({ sessionId: created.sessionId, sessionToken: created.sessionToken, reason: "durable" }, { headers });
    // As soon as the acknowledgement arrives.
    first.proc.child.kill("SIGKILL");
    expect(ended.alreadyTerminated).toBe(false);
    expect((await first.proc.exited).signal).toBe("SIGKILL");

    const second = await serve(dataDir);
    const client2 = createClient(SessionControl, createGrpcTransport({ baseUrl: second.baseUrl }));
    const got = await client2.getSession({ sessionId: created.sessionId }, { headers });
    expect(got.session?.termination).toBeDefined();
    expect(got.session?.termination?.reason).toBe("durable");
    expect(got.session?.sequence).toBe(ended.details?.sequence);
    const again = await client2.terminate({ sessionId: created.sessionId, sessionToken: created.sessionToken }, { headers });
    expect(again.alreadyTerminated).toBe(true);
    expect(again.details?.sequence).toBe(ended.details?.sequence);
    expect(again.details?.changeDate).toEqual(ended.details?.changeDate);

    // The sequence continues above what was stored, it does not restart.
    const next = await client2.createSession({ userId: "u-b2" }, { headers });
    expect(next.details!.sequence).toBeGreaterThan(ended.details!.sequence);
    second.proc.child.kill("SIGTERM");
    expect((await second.proc.exited).code).toBe(0);
  });

  it("(c) SIGTERM with an idle @grpc/grpc-js connection open exits 0 within 5 s", async () => {
    const dataDir = tempDir();
    // A grace period far beyond 5 s: only closing the idle connection at once can meet the deadline.
    const configFile = join(dataDir, "config.yaml");
    writeFileSync(configFile, "server:\n  shutdown_grace_ms: 30000\n");
    const { proc, port } = await serve(dataDir, ["--config", configFile]);
    const grpcJs = new GrpcJsClient(`127.0.0.1:${port}`);
    try {
      // One call, so the HTTP/2 connection exists; then it stays open and idle.
      const res = await grpcJs.call(Health.method.check, {});
      expect(res.status).toBe(1); // SERVING
      const started = Date.now();
      proc.child.kill("SIGTERM");
      const exit = await Promise.race([proc.exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5_000))]);
      expect(exit, `stdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(5_000);
      const msgs = logLines(proc.stdout()).map((l) => l["msg"]);
      expect(msgs).toContain("shutting down");
      expect(msgs).toContain("stopped");
      expect(proc.stderr()).toBe("");
    } finally {
      grpcJs.close();
    }
  });

  it("(d) SIGTERM with a call in flight: the call sees NOT_SERVING, is cut after the grace period, and the process exits 0", async () => {
    const dataDir = tempDir();
    const configFile = join(dataDir, "config.yaml");
    writeFileSync(configFile, "server:\n  shutdown_grace_ms: 1000\n");
    const { proc, baseUrl } = await serve(dataDir, ["--config", configFile]);
    const health = createClient(Health, createGrpcTransport({ baseUrl }));
    // A Watch stream is a call that stays in flight until the server ends it.
    const it = health.watch({ service: "" })[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value?.status).toBe(1); // SERVING
    const started = Date.now();
    proc.child.kill("SIGTERM");
    const second = await it.next();
    expect(second.value?.status).toBe(2); // NOT_SERVING
    // The client never ends the stream: the server must, once the grace period is over.
    const ended = await it.next().then(
      (r) => (r.done ? "done" : "more"),
      () => "error",
    );
    expect(ended).not.toBe("more");
    const exit = await Promise.race([proc.exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5_000))]);
    expect(exit, `stdout:\n${proc.stdout()}\nstderr:\n${proc.stderr()}`).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("(e) a bad config file exits non-zero with one stderr line per mistake naming the key, no stack trace", async () => {
    const dir = tempDir();
    const file = join(dir, "config.yaml");
    writeFileSync(file, `server:\n  port: "eighty"\n  host: 127.0.0.1\nbogus_setting: true\ndata_dir: ${JSON.stringify(join(dir, "data"))}\n`);
    const proc = spawnCli(["serve", "--config", file]);
    const exit = await proc.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    const lines = proc.stderr().split("\n").filter((l) => l.trim() !== "");
    expect(lines, proc.stderr()).toHaveLength(2);
    expect(lines.filter((l) => l.includes("server.port"))).toHaveLength(1);
    expect(lines.filter((l) => l.includes("bogus_setting"))).toHaveLength(1);
    for (const l of lines) expect(l).toMatch(/^session-control: config: /);
    expect(proc.stderr()).not.toMatch(/^\s+at /m);
    expect(proc.stderr()).not.toMatch(/Error:/);
    expect(proc.stdout()).not.toContain("serving");
  });

  it("(f) --port abc exits non-zero with one clear line", async () => {
    const proc = spawnCli(["serve", "--port", "abc", "--data-dir", tempDir()]);
    const exit = await proc.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    const lines = proc.stderr().split("\n").filter((l) => l.trim() !== "");
    expect(lines, proc.stderr()).toHaveLength(1);
    expect(lines[0]).toContain("--port");
    expect(lines[0]).toMatch(/whole number/);
    expect(proc.stderr()).not.toMatch(/^\s+at /m);
    expect(proc.stdout()).toBe("");
  });

  it("an unauthenticated call to the spawned service is refused (the key matters)", async () => {
    const dataDir = tempDir();
    const { proc, baseUrl } = await serve(dataDir);
    const client = createClient(SessionControl, createGrpcTransport({ baseUrl }));
    expect(await codeOf(client.getSession({ sessionId: "x" }))).toBe(Code.Unauthenticated);
    expect(await codeOf(client.getSession({ sessionId: "x" }, { headers: { authorization: "Bearer sck_wrong" } }))).toBe(Code.Unauthenticated);
    proc.child.kill("SIGTERM");
    expect((await proc.exited).code).toBe(0);
  });
});
