/**
 * The abuse suite: every attack of issue 8 against a real server started as the bin starts it.
 *   npm run abuse                 full run (~15 min), random fuzz seed (printed)
 *   npm run abuse -- --smoke      CI run (~3 min), fixed fuzz seed
 *   npm run abuse -- --only a,b   only the attacks named (see the table)
 *   npm run abuse -- --seed N     this fuzz seed
 * Prints a table and writes it as JSON (test/abuse/results/latest.json, smoke.json with --smoke);
 * exits 1 when any attack failed.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { describeMachine, describeSource } from "../../bench/machine.js";
import { ATTACKS } from "./attacks/index.js";
import { sleep } from "./attack.js";
import { ensureFileLimit } from "./file-limit.js";
import { missingBounds, productionLimits } from "./limits.js";
import { Monitor } from "./monitor-client.js";
import { renderTable, row, RSS_CEILING_MB, writeJson, type Row } from "./report.js";
import { startServer } from "./server.js";

const SMOKE_SEED = 20_261_208;
/** File descriptors the runner needs: the most sockets one attack holds (4,000 idle connections), the server's as many, and room. */
const FILES_NEEDED = { smoke: 4_096, full: 10_240 };

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { smoke: { type: "boolean", default: false }, only: { type: "string" }, seed: { type: "string" }, out: { type: "string" } } });
  const smoke = values.smoke!;
  const seed = values.seed !== undefined ? Number(values.seed) : smoke ? SMOKE_SEED : Math.floor(Math.random() * 2 ** 31);
  const only = values.only?.split(",").map((s) => s.trim());
  const attacks = ATTACKS.filter((a) => (only ? only.includes(a.name) : !(smoke && a.fullOnly)));
  if (attacks.length === 0) throw new Error(`no attack named ${values.only}; known: ${ATTACKS.map((a) => a.name).join(", ")}`);
  const files = ensureFileLimit(smoke ? FILES_NEEDED.smoke : FILES_NEEDED.full);
  if (files < (smoke ? FILES_NEEDED.smoke : FILES_NEEDED.full)) console.log(`warning: ulimit -n is ${files} and cannot be raised; attacks that hold many sockets will hit it`);
  const limits = productionLimits();
  const missing = missingBounds(limits);
  console.log(`abuse suite (${smoke ? "smoke" : "full"}): ${attacks.length} attacks, fuzz seed ${seed}, peak RSS ceiling ${RSS_CEILING_MB} MB, ulimit -n ${files}`);
  if (missing.length > 0) console.log(`the server's configuration schema does not know: ${missing.join(", ")} (attacks sized by the agreed defaults)`);

  const monitor = Monitor.spawn();
  const rows: Row[] = [];
  const capMs = smoke ? 90_000 : 240_000;
  try {
    for (const attack of attacks) {
      process.stdout.write(`\n-- ${attack.name}: ${attack.what}\n`);
      rows.push(await runOne(attack, monitor, { limits, smoke, seed, capMs }));
      const r = rows[rows.length - 1]!;
      console.log(`   ${r.verdict} in ${r.seconds} s: ${r.load}; probes ${r.probes.ok}/${r.probes.total}, client ${r.client.answered}/${r.client.total} (ok ${r.client.ok}), peak RSS ${r.peakRssMb} MB`);
      for (const n of r.notes) console.log(`   · ${n}`);
      for (const p of r.problems) console.log(`   ✗ ${p}`);
    }
  } finally {
    monitor.close();
  }
  console.log(`\n${renderTable(rows)}\n`);
  const failed = rows.filter((r) => r.verdict === "FAIL");
  const out = values.out ?? join(import.meta.dirname, "results", smoke ? "smoke.json" : "latest.json");
  writeJson(out, { mode: smoke ? "smoke" : "full", seed, date: new Date().toISOString(), machine: describeMachine(), source: describeSource(process.cwd()), limits, rssCeilingMb: RSS_CEILING_MB, rows });
  console.log(`${rows.length - failed.length} of ${rows.length} attacks survived; results in ${out}`);
  return failed.length === 0 ? 0 : 1;
}

async function runOne(attack: (typeof ATTACKS)[number], monitor: Monitor, o: { limits: ReturnType<typeof productionLimits>; smoke: boolean; seed: number; capMs: number }): Promise<Row> {
  const started = performance.now();
  const server = await startServer(o.limits);
  let report;
  let load = "";
  const problems: string[] = [];
  const notes: string[] = [];
  try {
    await monitor.start(server.port, server.pid, server.keys.admin);
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        attack.run({ server, limits: o.limits, smoke: o.smoke, seed: o.seed }),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`did not finish within ${o.capMs / 1000} s`)), o.capMs))),
      ]);
      load = result.load;
      problems.push(...result.problems);
      notes.push(...result.notes);
    } catch (err) {
      problems.push(`attack: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      clearTimeout(timer);
    }
    // The attacker is gone: a second of probes shows the server back to normal.
    await sleep(1_000);
    report = await monitor.stop();
  } catch (err) {
    problems.push(`monitor: ${err instanceof Error ? err.message : String(err)}`);
  }
  const alive = server.alive();
  const death = server.death();
  await server.stop();
  return row(attack.name, load, (performance.now() - started) / 1000, alive, death, report, problems, notes);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
