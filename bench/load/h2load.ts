import { execFile, execFileSync } from "node:child_process";

/** h2load (nghttp2-client) repeats one request body: it suits the comparison servers and the already-ended path. */
export function h2loadAvailable(): boolean {
  try {
    execFileSync("h2load", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export interface H2loadSpec {
  port: number;
  path: string;
  headers: Record<string, string>;
  /** A file holding exactly one enveloped request message. */
  bodyFile: string;
  concurrency: number;
  calls: number;
}

export interface H2loadResult {
  callsPerSec: number;
  wallSeconds: number;
  meanLatencyMs: number;
  succeeded: number;
  failed: number;
  output: string;
}

/** One h2load run on one connection with `concurrency` streams in flight. */
export function runH2load(spec: H2loadSpec): Promise<H2loadResult> {
  const args = ["-n", String(spec.calls), "-c", "1", "-m", String(spec.concurrency), "-t", "1", "-d", spec.bodyFile];
  const headers = { "content-type": "application/grpc", te: "trailers", ...spec.headers };
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  args.push(`http://127.0.0.1:${spec.port}${spec.path}`);
  return new Promise((resolve, reject) => {
    execFile("h2load", args, { maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) return reject(new Error(`h2load failed: ${err.message}\n${stdout}`));
      try {
        resolve(parse(stdout));
      } catch (e) {
        reject(e);
      }
    });
  });
}

function parse(output: string): H2loadResult {
  const finished = /finished in ([\d.]+)(m?s), ([\d.]+) req\/s/.exec(output);
  const requests = /requests: .*?(\d+) succeeded, (\d+) failed/.exec(output);
  const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(output);
  if (!finished || !requests || !time) throw new Error(`cannot read h2load's output:\n${output}`);
  return {
    wallSeconds: Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1),
    callsPerSec: Number(finished[3]),
    meanLatencyMs: toMs(time[3]!),
    succeeded: Number(requests[1]),
    failed: Number(requests[2]),
    output,
  };
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(value);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === "us" ? 1e-3 : m[2] === "ms" ? 1 : 1000);
}
