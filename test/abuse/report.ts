import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { MonitorReport } from "./monitor.js";

/** Health probes or normal calls that may go unanswered per attack: 1 %, rounded down (a scheduler hiccup on a shared 2-core runner). */
export function tolerance(total: number): number {
  return Math.floor(total / 100);
}

/** Peak RSS allowed under attack, MB: the 96 MB old generation, young generation, code, and max_buffered_bytes (32 MiB) with room. */
export const RSS_CEILING_MB = 320;

export interface Row {
  attack: string;
  load: string;
  alive: boolean;
  probes: { ok: number; total: number };
  client: { answered: number; ok: number; total: number };
  peakRssMb: number;
  seconds: number;
  verdict: "PASS" | "FAIL";
  /** Why it failed; empty when it passed. */
  problems: string[];
  notes: string[];
}

/** The table row of one attack, and whether it survived. */
export function row(attack: string, load: string, seconds: number, alive: boolean, death: string | undefined, m: MonitorReport | undefined, problems: string[], notes: string[]): Row {
  const all = [...problems];
  if (!alive) all.unshift(`server died: ${death ?? "unknown"}`);
  if (m) {
    const probeMisses = m.probes.total - m.probes.ok;
    if (probeMisses > tolerance(m.probes.total)) all.push(`${probeMisses} of ${m.probes.total} health probes unanswered (${m.probes.failures.join("; ")})`);
    const clientMisses = m.client.failed;
    if (clientMisses > tolerance(m.client.total)) all.push(`${clientMisses} of ${m.client.total} normal calls unanswered (${m.client.failures.join("; ")})`);
    if (m.peakRssMb > RSS_CEILING_MB) all.push(`peak RSS ${m.peakRssMb.toFixed(0)} MB > ${RSS_CEILING_MB} MB`);
  } else all.push("no monitor report");
  return {
    attack,
    load,
    alive,
    probes: { ok: m?.probes.ok ?? 0, total: m?.probes.total ?? 0 },
    client: { answered: (m?.client.ok ?? 0) + (m?.client.refused ?? 0), ok: m?.client.ok ?? 0, total: m?.client.total ?? 0 },
    peakRssMb: Math.round(m?.peakRssMb ?? 0),
    seconds: Math.round(seconds * 10) / 10,
    verdict: all.length === 0 ? "PASS" : "FAIL",
    problems: all,
    notes,
  };
}

export function renderTable(rows: Row[]): string {
  const head = ["attack", "count / duration", "alive", "probes ok/total", "client answered/total", "peak RSS MB", "verdict"];
  const cells = rows.map((r) => [r.attack, r.load, r.alive ? "yes" : "NO", `${r.probes.ok}/${r.probes.total}`, `${r.client.answered}/${r.client.total}`, String(r.peakRssMb), r.verdict]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => "| " + c.map((x, i) => x.padEnd(widths[i]!)).join(" | ") + " |";
  return [line(head), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...cells.map(line)].join("\n");
}

export function writeJson(file: string, doc: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(doc, null, 2) + "\n");
}
