/**
 * The watcher of one attack, in its own process so that a busy attacker cannot delay it:
 * health probes (grpc.health.v1.Health/Check, 2 s deadline) every PROBE_EVERY_MS on one
 * connection from 127.0.0.1, a normal authenticated client (GetSession) on another, and the
 * server's RSS read from /proc. Talks to the runner over IPC (see monitor-client.ts).
 */
import { Code } from "@connectrpc/connect";
import { HealthCheckResponse_ServingStatus, Health } from "../../gen/grpc/health/v1/health_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { readMemory, resetPeakRss } from "../../bench/proc-memory.js";
import { bearer, grpcClient, outcome } from "./clients.js";

export const PROBE_EVERY_MS = 200;
export const CLIENT_EVERY_MS = 250;
const DEADLINE_MS = 2_000;
const RSS_EVERY_MS = 50;

export interface Tally {
  total: number;
  ok: number;
  /** Answered in time with a refusal (e.g. RESOURCE_EXHAUSTED): an answer, not a success. */
  refused: number;
  /** No answer in time, or INTERNAL/UNKNOWN: the first few reasons. */
  failures: string[];
  failed: number;
  slowestMs: number;
}

export interface MonitorReport {
  probes: Tally;
  client: Tally;
  peakRssMb: number;
  startRssMb: number;
}

export type ToMonitor = { cmd: "start"; port: number; pid: number; adminKey: string } | { cmd: "stop" };
export type FromMonitor = { type: "ready" } | { type: "report"; report: MonitorReport } | { type: "error"; message: string };

const NO_ANSWER = new Set([Code.DeadlineExceeded, Code.Unavailable, Code.Internal, Code.Unknown, Code.Canceled]);

function tally(): Tally {
  return { total: 0, ok: 0, refused: 0, failures: [], failed: 0, slowestMs: 0 };
}

async function count(t: Tally, call: () => Promise<boolean>): Promise<void> {
  const start = performance.now();
  t.total++;
  const { code, error } = await outcome(call().then((ok) => (ok ? undefined : Promise.reject(new Error("not SERVING")))));
  t.slowestMs = Math.max(t.slowestMs, performance.now() - start);
  if (code === "OK") t.ok++;
  else if (error && !NO_ANSWER.has(error.code)) t.refused++;
  else {
    t.failed++;
    if (t.failures.length < 5) t.failures.push(`${code}: ${error?.rawMessage.slice(0, 120) ?? ""}`);
  }
}

let stopAll: (() => Promise<MonitorReport>) | undefined;

async function start(port: number, pid: number, adminKey: string): Promise<void> {
  const health = grpcClient(Health, port);
  const normal = grpcClient(SessionControl, port);
  const auth = { headers: bearer(adminKey), timeoutMs: DEADLINE_MS };
  // Both connections exist, and the normal client has a session to read, before the attack begins.
  const probe = async () => (await health.client.check({ service: "" }, { timeoutMs: DEADLINE_MS })).status === HealthCheckResponse_ServingStatus.SERVING;
  if (!(await probe())) throw new Error("the server is not SERVING before the attack");
  const { sessionId } = await normal.client.createSession({ userId: "normal-client" }, auth);
  const read = async () => (await normal.client.getSession({ sessionId }, auth)).session?.id === sessionId;
  await read();

  const probes = tally();
  const client = tally();
  const inFlight = new Set<Promise<void>>();
  const every = (ms: number, t: Tally, call: () => Promise<boolean>) =>
    setInterval(() => {
      const p = count(t, call).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }, ms);
  resetPeakRss(pid);
  // A process that died is a zombie until reaped: its status has no memory lines (NaN here).
  const bytes = (key: "rss" | "peakRss") => readMemory(pid)?.[key] || 0;
  const startRss = bytes("rss");
  let peak = startRss;
  const timers = [
    every(PROBE_EVERY_MS, probes, probe),
    every(CLIENT_EVERY_MS, client, read),
    setInterval(() => (peak = Math.max(peak, bytes("rss"))), RSS_EVERY_MS),
  ];
  stopAll = async () => {
    for (const t of timers) clearInterval(t);
    await Promise.all(inFlight);
    // VmHWM catches a peak between two reads; it is gone with the process.
    peak = Math.max(peak, bytes("peakRss"));
    health.close();
    normal.close();
    return { probes, client, peakRssMb: peak / 2 ** 20, startRssMb: startRss / 2 ** 20 };
  };
}

const send = (m: FromMonitor) => process.send!(m);

process.on("message", (m: ToMonitor) => {
  const run = async () => {
    if (m.cmd === "start") {
      await start(m.port, m.pid, m.adminKey);
      send({ type: "ready" });
    } else {
      const report = await stopAll!();
      stopAll = undefined;
      send({ type: "report", report });
    }
  };
  run().catch((err: unknown) => send({ type: "error", message: err instanceof Error ? err.message : String(err) }));
});
process.on("disconnect", () => process.exit(0));
