import http2 from "node:http2";
import { readFrameFile } from "./frames.js";
import type { FromGenerator, Job, JobResult, ToGenerator } from "./job.js";

/**
 * The load generator, a child process of its own: one HTTP/2 connection per server, N calls in
 * flight, pre-encoded request frames (no protobuf work per call), per-call latency from
 * process.hrtime.bigint(). Answers one job at a time over IPC.
 */

const MAX_FAILURES_KEPT = 10;
/** A job in which no call completes for this long is given up: the server is stuck. */
const STALL_MS = 30_000;
const sessions = new Map<number, http2.ClientHttp2Session>();
const frameCache = new Map<string, Buffer[]>();

function send(m: FromGenerator): void {
  process.send!(m);
}

async function connect(port: number): Promise<http2.ClientHttp2Session> {
  const existing = sessions.get(port);
  if (existing && !existing.closed && !existing.destroyed) return existing;
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { enablePush: false } });
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  session.on("error", () => {});
  sessions.set(port, session);
  return session;
}

function frames(file: string): Buffer[] {
  let f = frameCache.get(file);
  if (!f) {
    frameCache.clear();
    frameCache.set(file, (f = readFrameFile(file)));
  }
  return f;
}

async function run(job: Job): Promise<JobResult> {
  const session = await connect(job.port);
  const all = frames(job.framesFile);
  if (job.distinct && job.offset + job.units * job.chain > all.length) {
    throw new Error(`job needs ${job.offset + job.units * job.chain} distinct frames, ${job.framesFile} has ${all.length}`);
  }
  const headers = { ":method": "POST", ":path": job.path, "content-type": "application/grpc", te: "trailers", ...job.headers };
  const latencies = new Float64Array(job.units);
  const statuses: Record<string, number> = {};
  const failures: string[] = [];
  const bodies: Uint8Array[] = [];
  let calls = 0;
  let started = 0;
  let finished = 0;

  return new Promise<JobResult>((resolve) => {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    let settled = false;
    let lastProgress = Date.now();
    const finish = () => {
      settled = true;
      clearInterval(watchdog);
      const wallNs = Number(process.hrtime.bigint() - t0);
      const cpu = process.cpuUsage(cpu0);
      resolve({ units: job.units, calls, wallNs, cpuUs: cpu.user + cpu.system, latenciesNs: latencies, statuses, failures, bodies });
    };
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress < STALL_MS) return;
      statuses["stalled"] = job.units - finished;
      failures.push(`no call completed for ${STALL_MS / 1000} s: ${job.units - finished} units given up`);
      session.destroy();
      sessions.delete(job.port);
      finish();
    }, 1000);
    const frameOf = (unit: number, step: number) => {
      const i = job.offset + unit * job.chain + step;
      return all[job.distinct ? i : i % all.length]!;
    };
    const startUnit = () => {
      if (started >= job.units) return;
      const unit = started++;
      call(unit, 0, process.hrtime.bigint());
    };
    const call = (unit: number, step: number, unitStart: bigint) => {
      const callIndex = calls++;
      const keep = callIndex < job.keepBodies;
      const chunks: Buffer[] = [];
      let status: string | undefined;
      let message = "";
      const onHeaders = (h: http2.IncomingHttpHeaders) => {
        const s = h["grpc-status"];
        if (s !== undefined) status = String(s);
        if (h["grpc-message"] !== undefined) message = String(h["grpc-message"]);
      };
      let req: http2.ClientHttp2Stream;
      try {
        req = session.request(headers);
      } catch (err) {
        // The connection is gone: every call from here on fails the same way.
        const s = `transport:${(err as NodeJS.ErrnoException).code ?? "request_failed"}`;
        statuses[s] = (statuses[s] ?? 0) + 1;
        if (failures.length < MAX_FAILURES_KEPT) failures.push(`call ${callIndex}: ${(err as Error).message}`);
        if (++finished === job.units) finish();
        else setImmediate(startUnit);
        return;
      }
      req.once("response", onHeaders);
      req.once("trailers", onHeaders);
      if (keep) req.on("data", (chunk: Buffer) => chunks.push(chunk));
      else req.resume();
      req.on("error", (err: NodeJS.ErrnoException) => {
        status ??= `transport:${err.code ?? err.message}`;
      });
      req.on("close", () => {
        if (settled) return;
        lastProgress = Date.now();
        const s = status ?? (req.rstCode ? `transport:rst_${req.rstCode}` : "transport:no_status");
        statuses[s] = (statuses[s] ?? 0) + 1;
        if (keep) bodies[callIndex] = Buffer.concat(chunks);
        if (s !== "0" && failures.length < MAX_FAILURES_KEPT) {
          failures.push(`call ${callIndex} (unit ${unit}, step ${step}): grpc-status ${s} ${safeDecode(message)}`.trim());
        }
        if (s === "0" && step + 1 < job.chain) return call(unit, step + 1, unitStart);
        latencies[unit] = Number(process.hrtime.bigint() - unitStart);
        if (++finished === job.units) finish();
        else startUnit();
      });
      req.end(frameOf(unit, step));
    };
    for (let k = 0; k < job.concurrency; k++) startUnit();
  });
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

process.on("message", (m: ToGenerator) => {
  if (m.cmd === "run") {
    run(m.job).then(
      (result) => send({ type: "result", result }),
      (err: unknown) => send({ type: "error", message: (err as Error).message }),
    );
  } else if (m.cmd === "disconnect") {
    for (const s of sessions.values()) s.close();
    sessions.clear();
    send({ type: "disconnected" });
  } else if (m.cmd === "exit") process.exit(0);
});
process.on("disconnect", () => process.exit(0));
send({ type: "ready" });
