import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

/**
 * Turns a V8 `.cpuprofile` (node --cpu-prof) into time by area: which file or package the CPU
 * was in (self time), who called it (owner), and inclusive time per area.
 *
 *   npx tsx bench/profile/summarize.ts FILE.cpuprofile [--from US] [--to US] [--top 25] [--calls N] [--json]
 *   npx tsx bench/profile/summarize.ts FILE.heapprofile [--calls N]   (bytes allocated, from profile.ts --heap)
 *
 * --from/--to cut the profile to a window in microseconds of the monotonic clock (the clock of
 * the profile's own startTime, and of process.hrtime() in any process on the machine), so that
 * only the timed part of a run counts. bench/profile/profile.ts passes them.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** What a row of the summary is about. */
export type Side = "ours" | "framework" | "node" | "harness";

interface Bucket {
  name: string;
  side: Side;
  /** Code that runs on its own account; otherwise (Node internals, protobuf, builtins) its time is also shown under the nearest caller that is an owner. */
  owner: boolean;
}

const B = (name: string, side: Side, owner = true): Bucket => ({ name, side, owner });

// Special nodes of V8's profiler.
const GC = B("GC (garbage collector)", "node", false);
const IDLE = B("idle (event loop waiting)", "node", false);
const PROGRAM = B("(program): native, unattributed", "node", false);
const ROOT = B("(root)", "node", false);
const BUILTIN = B("JS builtins / native functions", "node", false);

/** The area of one frame, from its script's URL (file or package). First match wins. */
const RULES: [RegExp, Bucket][] = [
  // connect-node: the Node.js side of the adapter.
  [/@connectrpc\/connect-node\/.*node-universal-handler/, B("connect-node: universal request/response", "framework")],
  [/@connectrpc\/connect-node\/.*node-universal-header/, B("connect-node: header conversion", "framework")],
  [/@connectrpc\/connect-node\/.*node-error/, B("connect-node: errors", "framework")],
  [/@connectrpc\/connect-node\//, B("connect-node: other", "framework")],
  // connect-es.
  [/@connectrpc\/connect\/.*\/implementation\.js/, B("connect-es: handler context (createHandlerContext)", "framework")],
  [/@connectrpc\/connect\/.*\/protocol\/signals\.js/, B("connect-es: signals (deadline, linked AbortController)", "framework")],
  [/@connectrpc\/connect\/.*\/protocol-(grpc|grpc-web|connect)\//, B("connect-es: protocol handler (gRPC)", "framework")],
  [/@connectrpc\/connect\/.*\/protocol\/async-iterable\.js/, B("connect-es: async-iterable pipeline", "framework")],
  [/@connectrpc\/connect\/.*\/(protocol\/invoke-implementation|interceptor)\.js/, B("connect-es: invoke + interceptor chain", "framework")],
  [/@connectrpc\/connect\/.*\/(router|protocol\/universal-handler|protocol\/content-type-matcher)\.js/, B("connect-es: router / protocol negotiation", "framework")],
  [/@connectrpc\/connect\/.*\/(protocol\/(serialization|normalize|limit-io|envelope|compression)|http-headers|connect-error|context-values)\.js/, B("connect-es: serialization, errors, context values", "framework")],
  [/@connectrpc\/connect\//, B("connect-es: other", "framework")],
  // Libraries used by both sides: attributed to their caller in the owner view.
  [/@bufbuild\/protobuf\//, B("protobuf-es", "framework", false)],
  [/\/gen\//, B("protobuf-es", "framework", false)],
  // Ours.
  [/\/better-sqlite3\//, B("ours: SQLite (better-sqlite3)", "ours")],
  [/\/(pino|sonic-boom|thread-stream|on-exit-leak-free|quick-format-unescaped|atomic-sleep|pino-std-serializers|safe-stable-stringify|fast-redact|@pinojs\/redact)\//, B("ours: call log (pino)", "ours")],
  [/\/(prom-client|tdigest|bintrees)\//, B("ours: metrics (prom-client)", "ours")],
  [/\/src\/store\//, B("ours: store + group commit", "ours")],
  [/\/src\/server\/call-log\./, B("ours: call log", "ours")],
  [/\/src\/server\/metrics\./, B("ours: metrics (prom-client)", "ours")],
  [/\/src\/(server\/authenticate|auth\/)/, B("ours: auth (API key hash, guessing limits)", "ours")],
  [/\/src\/server\/(rpc-adapter|request-body)\./, B("ours: rpc adapter (routing, body checks in front of connectNodeAdapter)", "ours")],
  [/\/src\/server\/(handler|one-port|deadline|cors)\./, B("ours: HTTP plumbing (handler, one-port)", "ours")],
  [/\/src\/(api|providers|status)\//, B("ours: TerminateAction + local provider", "ours")],
  [/\/src\//, B("ours: other", "ours")],
  [/\/node_modules\/(zod|yaml|cockatiel|undici)\//, B("ours: other libraries", "ours")],
  [/\/bench\//, B("harness (child IPC)", "harness")],
  // Node.js internals.
  [/^node:internal\/http2\/compat/, B("Node: http2 compatibility API (req/res objects)", "node", false)],
  [/^node:(internal\/)?http2/, B("Node: http2", "node", false)],
  [/^node:internal\/(abort_controller|event_target|per_context\/domexception)/, B("Node: AbortController / EventTarget / DOMException", "node", false)],
  [/^node:internal\/deps\/undici/, B("Node: Headers (undici)", "node", false)],
  [/^node:(internal\/)?url/, B("Node: URL", "node", false)],
  [/^node:(internal\/)?(streams|stream)/, B("Node: streams", "node", false)],
  [/^node:(net|internal\/(net|stream_base_commons|child_process|dgram))/, B("Node: net / socket / IPC", "node", false)],
  [/^node:internal\/(process\/task_queues|timers|async_hooks|process\/promises)|^node:timers/, B("Node: event loop, timers, microtasks", "node", false)],
  [/^node:(internal\/)?crypto/, B("Node: crypto", "node", false)],
  [/^node:(internal\/)?events/, B("Node: events (EventEmitter)", "node", false)],
  [/^node:(internal\/)?(buffer|util)/, B("Node: buffer / util", "node", false)],
  [/^node:/, B("Node: other", "node", false)],
  [/\/node_modules\//, B("other packages", "node", false)],
];

function bucketOf(f: CallFrame): Bucket {
  if (f.url === "") {
    if (f.functionName === "(garbage collector)") return GC;
    if (f.functionName === "(idle)") return IDLE;
    if (f.functionName === "(program)") return PROGRAM;
    if (f.functionName === "(root)") return ROOT;
    return BUILTIN;
  }
  for (const [re, b] of RULES) if (re.test(f.url)) return b;
  return B(`other: ${f.url}`, "node", false);
}

export interface Row {
  name: string;
  side: Side;
  ms: number;
  percent: number;
}
export interface Summary {
  windowMs: number;
  samples: number;
  /** Self time per area (where the CPU was). */
  self: Row[];
  /** Self time per owner: Node internals, protobuf and builtins charged to the nearest owner calling them. */
  byOwner: Row[];
  /** Inclusive time: samples with at least one frame of the area on the stack. */
  total: Row[];
  /** Self time per side (ours, framework, node, harness), owner view, without idle. */
  sides: Row[];
  /** Functions with the most self time. */
  functions: { name: string; where: string; ms: number; percent: number }[];
}

/** Summarizes the samples between from and to (µs, the profile's monotonic clock); all when omitted. */
export function summarize(profile: CpuProfile, opts: { from?: number; to?: number; top?: number } = {}): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const bucket = new Map<number, Bucket>();
  const owner = new Map<number, Bucket>();
  const ownerOf = (id: number): Bucket => {
    const known = owner.get(id);
    if (known) return known;
    const b = bucket.get(id)!;
    let o: Bucket;
    if (b.owner || b === GC || b === IDLE || b === PROGRAM) o = b;
    else {
      const p = parent.get(id);
      const po = p === undefined ? undefined : ownerOf(p);
      // Nothing of ours or of the framework up the stack: Node's own work (e.g. http2 parsing frames).
      o = po && po !== ROOT ? po : b === ROOT ? ROOT : B(b.side === "node" ? "Node (not called by ours or the framework)" : b.name, b.side, false);
    }
    owner.set(id, o);
    return o;
  };
  for (const n of profile.nodes) bucket.set(n.id, bucketOf(n.callFrame));

  const self = new Map<string, { side: Side; us: number }>();
  const byOwner = new Map<string, { side: Side; us: number }>();
  const total = new Map<string, { side: Side; us: number }>();
  const fns = new Map<string, { where: string; us: number }>();
  const add = (m: Map<string, { side: Side; us: number }>, b: { name: string; side: Side }, us: number) => {
    const e = m.get(b.name);
    if (e) e.us += us;
    else m.set(b.name, { side: b.side, us });
  };

  const from = opts.from ?? -Infinity;
  const to = opts.to ?? Infinity;
  let t = profile.startTime;
  let windowUs = 0;
  let samples = 0;
  const n = profile.samples.length;
  for (let i = 0; i < n; i++) {
    t += profile.timeDeltas[i]!;
    // A sample stands for the time until the next one.
    const us = i + 1 < n ? profile.timeDeltas[i + 1]! : 0;
    if (t < from || t >= to || us <= 0) continue;
    const id = profile.samples[i]!;
    const b = bucket.get(id)!;
    if (b === ROOT) continue;
    samples++;
    windowUs += us;
    add(self, b, us);
    add(byOwner, ownerOf(id), us);
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
    const e = fns.get(key);
    if (e) e.us += us;
    else fns.set(key, { where: b.name, us });
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const ab = bucket.get(at)!;
      if (ab === ROOT || seen.has(ab.name)) continue;
      seen.add(ab.name);
      add(total, ab, us);
    }
  }
  const rows = (m: Map<string, { side: Side; us: number }>, base = windowUs): Row[] =>
    [...m.entries()].map(([name, v]) => ({ name, side: v.side, ms: v.us / 1000, percent: (100 * v.us) / base })).sort((a, b) => b.ms - a.ms);
  const idleUs = self.get(IDLE.name)?.us ?? 0;
  const sides = new Map<string, { side: Side; us: number }>();
  for (const [name, v] of byOwner) if (name !== IDLE.name) add(sides, { name: name === GC.name || name === PROGRAM.name ? name : v.side, side: v.side }, v.us);
  return {
    windowMs: windowUs / 1000,
    samples,
    self: rows(self),
    byOwner: rows(byOwner),
    total: rows(total),
    sides: rows(sides, windowUs - idleUs),
    functions: [...fns.entries()]
      .map(([name, v]) => ({ name, where: v.where, ms: v.us / 1000, percent: (100 * v.us) / windowUs }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, opts.top ?? 25),
  };
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}
export interface HeapProfile {
  head: HeapNode;
  /** Added by heap-sampler.ts: GC pauses during the window, and the window's length. */
  gc?: Record<string, { count: number; ms: number }>;
  windowMs?: number;
}

/** Bytes allocated (estimated by V8's sampling heap profiler) per area, per owner and per function. */
export function summarizeHeap(profile: HeapProfile, top = 25): { totalBytes: number; self: Row[]; byOwner: Row[]; functions: { name: string; where: string; ms: number; percent: number }[] } {
  const self = new Map<string, { side: Side; us: number }>();
  const byOwner = new Map<string, { side: Side; us: number }>();
  const fns = new Map<string, { where: string; us: number }>();
  let totalBytes = 0;
  const add = (m: Map<string, { side: Side; us: number }>, b: { name: string; side: Side }, bytes: number) => {
    const e = m.get(b.name);
    if (e) e.us += bytes;
    else m.set(b.name, { side: b.side, us: bytes });
  };
  const visit = (n: HeapNode, owner: Bucket | undefined) => {
    const b = bucketOf(n.callFrame);
    const o = b.owner ? b : owner;
    if (n.selfSize > 0 && b !== ROOT) {
      totalBytes += n.selfSize;
      add(self, b, n.selfSize);
      add(byOwner, o ?? B("Node (not called by ours or the framework)", "node", false), n.selfSize);
      const f = n.callFrame;
      const key = `${f.functionName || "(anonymous)"} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
      const e = fns.get(key);
      if (e) e.us += n.selfSize;
      else fns.set(key, { where: b.name, us: n.selfSize });
    }
    for (const c of n.children) visit(c, o);
  };
  visit(profile.head, undefined);
  // "ms" holds bytes here: the rows share the CPU summary's shape.
  const rows = (m: Map<string, { side: Side; us: number }>): Row[] =>
    [...m.entries()].map(([name, v]) => ({ name, side: v.side, ms: v.us, percent: (100 * v.us) / totalBytes })).sort((a, b) => b.ms - a.ms);
  return {
    totalBytes,
    self: rows(self),
    byOwner: rows(byOwner),
    functions: [...fns.entries()].map(([name, v]) => ({ name, where: v.where, ms: v.us, percent: (100 * v.us) / totalBytes })).sort((a, b) => b.ms - a.ms).slice(0, top),
  };
}

export function renderHeapSummary(profile: HeapProfile, calls?: number): string {
  const h = summarizeHeap(profile);
  const per = (bytes: number) => (calls ? ` ${(bytes / calls / 1024).toFixed(2)} |` : "");
  const table = (title: string, rows: Row[]) =>
    [`#### ${title}`, "", `| area | side | MB | % |${calls ? " KB/call |" : ""}`, `|---|---|--:|--:|${calls ? "--:|" : ""}`, ...rows.filter((r) => r.percent >= 0.2).map((r) => `| ${r.name} | ${r.side} | ${(r.ms / 1048576).toFixed(1)} | ${r.percent.toFixed(1)} |${per(r.ms)}`), ""].join("\n");
  const gc = profile.gc
    ? `GC pauses in the window (${((profile.windowMs ?? 0) / 1000).toFixed(2)} s): ` +
      Object.entries(profile.gc).map(([k, v]) => `${k} ${v.count} × = ${v.ms.toFixed(0)} ms`).join(", ") + "."
    : "";
  return [
    `Allocated (sampled estimate): ${(h.totalBytes / 1048576).toFixed(1)} MB${calls ? `, ${(h.totalBytes / calls / 1024).toFixed(1)} KB per call` : ""}. ${gc}`,
    "",
    table("Bytes allocated by area (the allocating frame)", h.self),
    table("Bytes allocated by owner (Node internals, protobuf-es and builtins charged to the nearest caller of ours or of the framework)", h.byOwner),
    "#### Functions allocating the most",
    "",
    `| function | area | KB${calls ? "/call" : ""} | % |\n|---|---|--:|--:|`,
    ...h.functions.map((f) => `| \`${f.name}\` | ${f.where} | ${(calls ? f.ms / calls / 1024 : f.ms / 1024).toFixed(2)} | ${f.percent.toFixed(1)} |`),
    "",
  ].join("\n");
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) return url.slice(nm + "/node_modules/".length);
  const js = /\/js-\d+[^/]*\/(.*)$/.exec(url);
  if (js) return js[1]!;
  return url.replace(/^file:\/\//, "");
}

/** The summary as Markdown tables; `calls` adds a µs-per-call column. */
export function renderSummary(s: Summary, calls?: number): string {
  const perCall = (ms: number) => (calls ? ` ${((ms * 1000) / calls).toFixed(1)} |` : "");
  const head = (first: string) => `| ${first} | side | ms | % |${calls ? " µs/call |" : ""}\n|---|---|--:|--:|${calls ? "--:|" : ""}`;
  const table = (title: string, rows: Row[], first: string) =>
    [`#### ${title}`, "", head(first), ...rows.filter((r) => r.percent >= 0.05).map((r) => `| ${r.name} | ${r.side} | ${r.ms.toFixed(0)} | ${r.percent.toFixed(1)} |${perCall(r.ms)}`), ""].join("\n");
  return [
    `Window: ${(s.windowMs / 1000).toFixed(2)} s, ${s.samples} samples${calls ? `, ${calls} calls` : ""}.`,
    "",
    [
      "#### Busy time by side (owner view; idle excluded, % of busy time)",
      "",
      `| side | ms | % |${calls ? " µs/call |" : ""}\n|---|--:|--:|${calls ? "--:|" : ""}`,
      ...s.sides.map((r) => `| ${r.name} | ${r.ms.toFixed(0)} | ${r.percent.toFixed(1)} |${perCall(r.ms)}`),
      "",
    ].join("\n"),
    table("Self time by area (where the CPU was)", s.self, "area"),
    table("Self time by owner (Node internals, protobuf-es and builtins charged to the nearest caller of ours or of the framework)", s.byOwner, "owner"),
    table("Total (inclusive) time by area", s.total, "area"),
    "#### Functions with the most self time",
    "",
    `| function | area | ms | % |\n|---|---|--:|--:|`,
    ...s.functions.map((f) => `| \`${f.name}\` | ${f.where} | ${f.ms.toFixed(0)} | ${f.percent.toFixed(1)} |`),
    "",
  ].join("\n");
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { from: { type: "string" }, to: { type: "string" }, top: { type: "string" }, calls: { type: "string" }, json: { type: "boolean", default: false } },
  });
  if (positionals.length !== 1) {
    console.error("usage: npx tsx bench/profile/summarize.ts FILE.cpuprofile [--from US] [--to US] [--top N] [--calls N] [--json]");
    process.exit(2);
  }
  const calls = values.calls === undefined ? undefined : Number(values.calls);
  if (positionals[0]!.endsWith(".heapprofile")) {
    console.log(renderHeapSummary(JSON.parse(readFileSync(positionals[0]!, "utf8")) as HeapProfile, calls));
    return;
  }
  const profile = JSON.parse(readFileSync(positionals[0]!, "utf8")) as CpuProfile;
  const s = summarize(profile, {
    ...(values.from !== undefined && { from: Number(values.from) }),
    ...(values.to !== undefined && { to: Number(values.to) }),
    top: values.top === undefined ? 25 : Number(values.top),
  });
  console.log(values.json ? JSON.stringify(s, null, 2) : renderSummary(s, calls));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) main();
