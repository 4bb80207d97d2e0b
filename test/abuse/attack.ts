import type { Limits } from "./limits.js";
import type { ServerUnderAttack } from "./server.js";
import { sleep } from "../helpers/wait.js";

export interface AttackContext {
  server: ServerUnderAttack;
  limits: Limits;
  smoke: boolean;
  /** The fast-check seed of this run. */
  seed: number;
}

export interface AttackResult {
  /** How much was sent, for the table: "12 conns × 1000 streams, 20 s". */
  load: string;
  /** What the attack itself checked and found wrong (beyond alive, probes and RSS). */
  problems: string[];
  /** Figures worth keeping: how the server refused the work. */
  notes: string[];
}

export interface Attack {
  name: string;
  /** One line: what it sends. */
  what: string;
  /** Left out of --smoke (a variant whose every dimension another smoke attack covers). */
  fullOnly?: boolean;
  run(ctx: AttackContext): Promise<AttackResult>;
}

/** An attacker's loopback address: 127.0.0.2 and up, so that per-address limits never hit the normal client on 127.0.0.1. */
export function attackerAddress(i: number): string {
  return `127.0.0.${2 + (i % 200)}`;
}

/** The attacks pace themselves (hold a connection this long, send every so often): time is their subject. */
export { sleep };

/** Resolves when `until` (ms since the epoch) has come. */
export function sleepUntil(until: number): Promise<void> {
  return sleep(Math.max(0, until - Date.now()));
}
