import { execFile } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, it } from "vitest";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { startService } from "../../src/main.js";
import { CHILD_START_MS, childTestTimeout } from "../helpers/child-service.js";

const CLI = join(process.cwd(), "src", "cli.ts");
const DB_FILES = ["sessions.db", "sessions.db-wal", "sessions.db-shm"];
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "session-control-datadir-"));
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const mode = (path: string) => statSync(path).mode & 0o777;

/** The service in this process with no api_keys (so it makes admin.key), its log lines, and its admin key. */
async function serveIn(dataDir: string) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
      done();
    },
  });
  const service = await startService(parseConfig({}, { port: 0, dataDir }), createLogger("info", sink));
  const key = readFileSync(join(dataDir, "admin.key"), "utf8").trim();
  return { service, lines, key, baseUrl: `http://127.0.0.1:${service.server.port}` };
}

/** Creates and ends a session through a real gRPC client, so SQLite writes its WAL. */
async function traffic(baseUrl: string, key: string): Promise<void> {
  const client = createClient(SessionControl, createGrpcTransport({ baseUrl }));
  const headers = { authorization: `Bearer ${key}` };
  const { sessionId } = await client.createSession({ userId: "modes" }, { headers, timeoutMs: 5_000 });
  await client.terminate({ sessionId }, { headers, timeoutMs: 5_000 });
}

describe("data directory modes", () => {
  it("creates the directory 0700 and every file in it 0600, the WAL included, after real traffic", async () => {
    const dataDir = join(tempDir(), "new", "data");
    const { service, key, baseUrl } = await serveIn(dataDir);
    try {
      await traffic(baseUrl, key);
      expect(mode(dataDir)).toBe(0o700);
      // The -wal and -shm files exist while the store is open (WAL mode), and take the database file's mode.
      for (const f of [...DB_FILES, "admin.key"]) expect([f, mode(join(dataDir, f))]).toEqual([f, 0o600]);
    } finally {
      await service.stop();
    }
  });

  it("tightens a data directory of ours left 0755/0644 by an earlier version", async () => {
    const dataDir = join(tempDir(), "data");
    const first = await serveIn(dataDir);
    await traffic(first.baseUrl, first.key);
    await first.service.stop();
    chmodSync(dataDir, 0o755);
    for (const f of ["sessions.db", "admin.key"]) chmodSync(join(dataDir, f), 0o644);
    writeFileSync(join(dataDir, "sessions.db-wal"), "", { mode: 0o644 });
    chmodSync(join(dataDir, "sessions.db-wal"), 0o644);

    const second = await serveIn(dataDir);
    try {
      await traffic(second.baseUrl, second.key);
      expect(second.key).toBe(first.key);
      expect(mode(dataDir)).toBe(0o700);
      for (const f of [...DB_FILES, "admin.key"]) expect([f, mode(join(dataDir, f))]).toEqual([f, 0o600]);
      expect(second.lines.filter((l) => l["level"] === 40)).toEqual([]);
    } finally {
      await second.service.stop();
    }
  });

  it("leaves a pre-existing directory holding other files as it is, with a warning, and still keeps its own files 0600", async () => {
    const dataDir = tempDir();
    chmodSync(dataDir, 0o755);
    writeFileSync(join(dataDir, "someone-elses.txt"), "x");
    const { service, lines, key, baseUrl } = await serveIn(dataDir);
    try {
      await traffic(baseUrl, key);
      expect(mode(dataDir)).toBe(0o755);
      for (const f of [...DB_FILES, "admin.key"]) expect([f, mode(join(dataDir, f))]).toEqual([f, 0o600]);
      const warning = lines.find((l) => l["level"] === 40);
      expect(warning).toMatchObject({ path: dataDir, mode: "0755" });
      expect(String(warning!["msg"])).toContain("data_dir");
    } finally {
      await service.stop();
    }
  });
});

/** An unprivileged user to run the CLI as, when the tests run as root (which ignores file modes). */
const NOBODY = { uid: 65534, gid: 65534 };
const asRoot = process.getuid?.() === 0;

/** Runs the real CLI (as the bin does, on port 0) to its exit, as `user` if given; resolves with its exit code and stderr. */
function runCli(dataDir: string, user?: { uid: number; gid: number }): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", CLI, "serve", "--port", "0", "--data-dir", dataDir], { timeout: CHILD_START_MS, ...user }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout, stderr }),
    );
  });
}

/** The CLI exits 2 with exactly one stderr line, naming data_dir, the path and what is wrong. */
async function expectOneLine(dataDir: string, path: string, problem: RegExp, user?: { uid: number; gid: number }): Promise<void> {
  const { code, stderr } = await runCli(dataDir, user);
  const lines = stderr.split("\n").filter((l) => l.trim() !== "");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^session-control: config: data_dir: ${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: `));
  expect(lines[0]).toMatch(problem);
  expect(code).toBe(2);
}

describe("an unusable data directory stops the CLI with one line naming data_dir and the path", { timeout: childTestTimeout(1) }, () => {
  it("data_dir is a regular file", async () => {
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "x");
    await expectOneLine(file, file, /not a directory/);
  });

  it("data_dir is under a regular file", async () => {
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "x");
    await expectOneLine(join(file, "data"), join(file, "data"), /not a directory/);
  });

  it("sessions.db is a directory", async () => {
    const dataDir = tempDir();
    mkdirSync(join(dataDir, "sessions.db"));
    await expectOneLine(dataDir, join(dataDir, "sessions.db"), /not a regular file/);
  });

  it("sessions.db is not an SQLite database", async () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, "sessions.db"), "this is not a database ".repeat(200));
    await expectOneLine(dataDir, join(dataDir, "sessions.db"), /not a database/);
  });

  // root may write anywhere, whatever the modes say: as root, the CLI runs as nobody, in a directory nobody may enter.
  const user = asRoot ? NOBODY : undefined;
  const reachable = () => {
    const dir = tempDir();
    if (user) chmodSync(dir, 0o755);
    return dir;
  };

  it("data_dir is not writable", async () => {
    const dataDir = join(reachable(), "data");
    mkdirSync(dataDir, { mode: 0o555 });
    await expectOneLine(dataDir, dataDir, /not writable/, user);
  });

  it("sessions.db is read-only", async () => {
    const dataDir = reachable();
    if (user) chownSync(dataDir, user.uid, user.gid);
    writeFileSync(join(dataDir, "sessions.db"), "", { mode: 0o444 });
    await expectOneLine(dataDir, join(dataDir, "sessions.db"), /not writable/, user);
  });
});
