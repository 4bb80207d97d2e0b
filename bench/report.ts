import type { Machine } from "./machine.js";
import type { RunResult } from "./measure.js";
import type { ProvidersSection } from "./providers.js";
import type { ServerSummary } from "./servers/spawn.js";
import { CHECK_CALL } from "./scenarios/comparison.js";
import type { GrowthPoint } from "./scenarios/growth.js";
import { TERMINATE_CALL } from "./scenarios/headline.js";
import type { ListResult } from "./scenarios/list.js";

export interface Ratio {
  /** Both sides of a ratio were driven by this generator. */
  generator: "own" | "h2load";
  call: string;
  concurrency: number;
  callsPerSec: number;
  vsConnectNode?: number;
  vsGrpcJs?: number;
  vsRawHttp2?: number;
  p99VsConnectNode?: number;
}

export interface Target {
  name: string;
  verdict: "PASS" | "FAIL" | "SKIP" | "PENDING";
  measured: string;
  stretch?: boolean;
}

export interface Report {
  mode: "smoke" | "full";
  startedAt: string;
  finishedAt: string;
  argv: string[];
  machine: Machine;
  /** The commit measured; dirty when src/, gen/, bench/ or package.json differed from it. */
  source: { commit: string | null; dirty: boolean | null };
  settings: Record<string, unknown>;
  runs: RunResult[];
  ratios: Ratio[];
  headlineStoreSessions: number;
  growth: GrowthPoint[];
  list: ListResult[];
  providers: ProvidersSection;
  servers: ServerSummary[];
  targets: Target[];
  problems: string[];
}

export type ReportInput = Omit<Report, "ratios" | "targets">;

export function buildReport(input: ReportInput): Report {
  const ratios = computeRatios(input.runs);
  return { ...input, ratios, targets: computeTargets(input, ratios) };
}

function find(runs: RunResult[], generator: RunResult["generator"], server: string, call: string, concurrency: number): RunResult | undefined {
  return runs.find((r) => r.generator === generator && r.server === server && r.call === call && r.concurrency === concurrency && r.problems.length === 0);
}

function own(runs: RunResult[], server: string, call: string, concurrency: number): RunResult | undefined {
  return find(runs, "own", server, call, concurrency);
}

/** Each service run over the comparison servers' run at the same concurrency, with the same generator. */
function computeRatios(runs: RunResult[]): Ratio[] {
  const ratios: Ratio[] = [];
  for (const r of runs.filter((x) => x.server === "service" && x.problems.length === 0)) {
    const vs = (server: string) => {
      const base = find(runs, r.generator, server, CHECK_CALL, r.concurrency);
      return base ? r.callsPerSec / base.callsPerSec : undefined;
    };
    const cn = find(runs, r.generator, "connect-node", CHECK_CALL, r.concurrency);
    ratios.push({
      generator: r.generator,
      call: r.call,
      concurrency: r.concurrency,
      callsPerSec: r.callsPerSec,
      vsConnectNode: vs("connect-node"),
      vsGrpcJs: vs("grpc-js"),
      vsRawHttp2: vs("raw-http2"),
      p99VsConnectNode: cn && r.latencyMs && cn.latencyMs ? r.latencyMs.p99 / cn.latencyMs.p99 : undefined,
    });
  }
  return ratios;
}

function computeTargets(input: ReportInput, ratios: Ratio[]): Target[] {
  const targets: Target[] = [];
  const headline = ratios.filter((r) => r.call === TERMINATE_CALL && r.generator === "own");
  const top = headline.reduce<Ratio | undefined>((a, r) => (!a || r.concurrency > a.concurrency ? r : a), undefined);
  const at = top ? (top.concurrency === 64 ? "at 64 in flight" : `at ${top.concurrency} in flight (64 not measured)`) : "at 64 in flight";
  const verdict = (ok: boolean | undefined): Target["verdict"] => (ok === undefined ? "SKIP" : ok ? "PASS" : "FAIL");
  const x = (v: number | undefined) => (v === undefined ? "not measured" : `${v.toFixed(2)}x`);

  targets.push({ name: `Terminate calls/s >= 0.85x bare connect-node, ${at}`, verdict: verdict(top?.vsConnectNode === undefined ? undefined : top.vsConnectNode >= 0.85), measured: x(top?.vsConnectNode) });
  targets.push({ name: `Terminate p99 <= 2x bare connect-node's p99, ${at}`, verdict: verdict(top?.p99VsConnectNode === undefined ? undefined : top.p99VsConnectNode <= 2), measured: x(top?.p99VsConnectNode) });

  const points = [...input.growth].sort((a, b) => a.sessions - b.sessions);
  const small = points[0];
  const large = points[points.length - 1];
  const growth = small && large && large !== small && small.result.latencyMs && large.result.latencyMs ? large.result.latencyMs.p50 / small.result.latencyMs.p50 : undefined;
  targets.push({
    name: `Terminate p50 at ${large?.sessions ?? "10^6"} sessions <= 1.2x its p50 at ${small?.sessions ?? "10^3"}`,
    verdict: verdict(growth === undefined ? undefined : growth <= 1.2),
    measured: growth === undefined ? "needs two store sizes" : `${x(growth)} (${small!.result.latencyMs!.p50.toFixed(3)} -> ${large!.result.latencyMs!.p50.toFixed(3)} ms)`,
  });

  const topRun = top && own(input.runs, "service", TERMINATE_CALL, top.concurrency);
  const rss = topRun?.peakRssMb;
  targets.push({ name: `Peak RSS of the service during the Terminate run ${at} <= 150 MB`, verdict: verdict(rss === undefined ? undefined : rss <= 150), measured: rss === undefined ? "not measured" : `${rss.toFixed(1)} MB` });

  const runs = input.providers.runs;
  const worst = (f: (r: (typeof runs)[number]) => number) => (runs.length ? Math.max(...runs.map(f)) : undefined);
  const p50 = worst((r) => r.overheadP50Ms);
  const p99 = worst((r) => r.overheadP99Ms);
  targets.push({
    name: "Provider overhead over the upstream's own latency: p50 <= 1 ms, p99 <= 5 ms",
    verdict: p50 === undefined || p99 === undefined ? "PENDING" : p50 <= 1 && p99 <= 5 ? "PASS" : "FAIL",
    measured: p50 === undefined || p99 === undefined ? input.providers.note : `worst p50 ${p50.toFixed(3)} ms, worst p99 ${p99.toFixed(3)} ms`,
  });

  targets.push({ name: `Stretch: Terminate calls/s >= bare grpc-js, ${at}`, verdict: verdict(top?.vsGrpcJs === undefined ? undefined : top.vsGrpcJs >= 1), measured: x(top?.vsGrpcJs), stretch: true });
  return targets;
}

const f = (v: number | undefined, digits = 2) => (v === undefined || Number.isNaN(v) ? "-" : v.toFixed(digits));
const int = (v: number) => Math.round(v).toLocaleString("en-US");

export function renderMarkdown(r: Report): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`## session-control benchmark (${r.mode}, ${r.startedAt})`, "");
  out.push(`Machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGb} GB, Node ${m.node}, ${m.os}; load average ${f(m.loadAverage.start)} at start, ${f(m.loadAverage.end)} at end.`, "");
  if (r.source.commit) out.push(`Source: commit ${r.source.commit.slice(0, 12)}${r.source.dirty ? " with uncommitted changes" : ""}.`, "");
  if (m.loadAverage.start > m.cpus / 4) {
    out.push(`**The machine was busy (load average ${f(m.loadAverage.start)} on ${m.cpus} CPUs before the run started): other work competed for the CPUs, so these figures are unreliable.**`, "");
  }

  const ownRuns = r.runs.filter((x) => x.generator === "own");
  out.push("### Unary calls, own load generator (one HTTP/2 connection)", "");
  out.push("| server | call | in flight | calls/s | p50 ms | p99 ms | CPU ms/call | peak RSS MB | server CPU % | generator CPU % |", "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|");
  for (const x of ownRuns) {
    out.push(
      `| ${x.server} | ${x.call} | ${x.concurrency} | ${int(x.callsPerSec)} | ${f(x.latencyMs?.p50, 3)} | ${f(x.latencyMs?.p99, 3)} | ${f(x.cpuMsPerCall, 3)} | ${f(x.peakRssMb, 0)} | ` +
        `${f(x.serverCpuPercent, 0)} | ${f(x.generatorCpuPercent, 0)} |${x.problems.length ? " **WRONG ANSWERS**" : ""}`,
    );
  }
  const h2 = r.runs.filter((x) => x.generator === "h2load");
  if (h2.length > 0) {
    out.push("", "### Same body repeated, h2load (-c 1 -m N)", "");
    out.push("| server | call | in flight | calls/s | mean ms | CPU ms/call | peak RSS MB |", "|---|---|--:|--:|--:|--:|--:|");
    for (const x of h2) out.push(`| ${x.server} | ${x.call} | ${x.concurrency} | ${int(x.callsPerSec)} | ${f(x.meanLatencyMs, 3)} | ${f(x.cpuMsPerCall, 3)} | ${f(x.peakRssMb, 0)} |`);
  }

  out.push("", "### Ratios in this run (calls/s of the service ÷ calls/s of each comparison server)", "");
  out.push("| service call | generator | in flight | calls/s | ÷ connect-node | ÷ grpc-js | ÷ raw HTTP/2 | p99 ÷ connect-node p99 |", "|---|---|--:|--:|--:|--:|--:|--:|");
  for (const x of r.ratios) {
    out.push(`| ${x.call} | ${x.generator} | ${x.concurrency} | ${int(x.callsPerSec)} | ${f(x.vsConnectNode)} | ${f(x.vsGrpcJs)} | ${f(x.vsRawHttp2)} | ${f(x.p99VsConnectNode)} |`);
  }

  if (r.growth.length > 0) {
    const c = r.growth[0]!.result.concurrency;
    out.push("", `### Growth: Terminate of distinct sessions picked across the store, ${c} in flight`, "");
    out.push("| sessions in store | file MB | calls | calls/s | p50 ms | p99 ms | CPU ms/call |", "|--:|--:|--:|--:|--:|--:|--:|");
    for (const g of r.growth) out.push(`| ${int(g.sessions)} | ${f(g.fileMb, 0)} | ${g.result.units} | ${int(g.result.callsPerSec)} | ${f(g.result.latencyMs?.p50, 3)} | ${f(g.result.latencyMs?.p99, 3)} | ${f(g.result.cpuMsPerCall, 3)} |`);
  }
  if (r.list.length > 0) {
    out.push("", "### ListSessions of one user, page_size 100, 1 in flight", "");
    out.push("| user's sessions | what | pages | measured | pages/s | p50 ms | p99 ms |", "|--:|---|--:|--:|--:|--:|--:|");
    for (const l of r.list) out.push(`| ${int(l.userSessions)} | ${l.what} | ${l.pages} | ${l.result.units} | ${int(l.result.callsPerSec)} | ${f(l.result.latencyMs?.p50, 3)} | ${f(l.result.latencyMs?.p99, 3)} |`);
  }
  out.push("", `### Providers: ${r.providers.status === "pending" ? r.providers.note : `${r.providers.runs.length} runs`}`, "");
  if (r.providers.runs.length > 0) {
    out.push("| provider | upstream latency ms | overhead p50 ms | overhead p99 ms | upstream connections |", "|---|--:|--:|--:|--:|");
    for (const p of r.providers.runs) out.push(`| ${p.provider} | ${p.upstreamLatencyMs} | ${f(p.overheadP50Ms, 3)} | ${f(p.overheadP99Ms, 3)} | ${p.upstreamConnections} |`);
    out.push("");
  }
  if (r.servers.length > 0) {
    out.push("### Server processes", "");
    out.push("| server | RSS at start MB | lifetime peak RSS MB | CPU s |", "|---|--:|--:|--:|");
    for (const s of r.servers) out.push(`| ${s.name} | ${f(s.startRssMb, 0)} | ${f(s.lifetimePeakRssMb, 0)} | ${f(s.cpuSeconds, 1)} |`);
    out.push("");
  }
  out.push("### Targets", "");
  for (const t of r.targets) out.push(`${t.verdict} ${t.name}: ${t.measured}`);
  if (r.problems.length > 0) {
    out.push("", `### Problems (${r.problems.length})`, "");
    for (const p of r.problems) out.push(`- ${p}`);
  }
  return out.join("\n");
}
