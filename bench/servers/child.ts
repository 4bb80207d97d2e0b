/**
 * The child side of a comparison server: it starts listening on 127.0.0.1 (a free port), says
 * so over IPC, answers usage questions (CPU time, RSS) and stops when told.
 */

export interface Listening {
  port: number;
  close(): Promise<void>;
}

/** What a server child reports about itself. */
export interface ChildUsage {
  /** process.cpuUsage(): user and system CPU time in microseconds since the child started. */
  userUs: number;
  systemUs: number;
  /** Current resident set size, bytes. */
  rss: number;
  /** Lifetime peak RSS from getrusage, kilobytes. */
  maxRssKb: number;
  /** process.memoryUsage(): V8 heap used and reserved, memory outside the heap (buffers, native), bytes. */
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/** `gc`: collect garbage first, when the child runs with --expose-gc (to tell a leak from lazy collection). */
export type ToChild = { cmd: "usage"; gc?: boolean } | { cmd: "stop" };
export type FromChild = { type: "ready"; port: number } | { type: "usage"; usage: ChildUsage } | { type: "stopped" } | { type: "error"; message: string };

export function usage(): ChildUsage {
  const cpu = process.cpuUsage();
  const m = process.memoryUsage();
  return { userUs: cpu.user, systemUs: cpu.system, rss: m.rss, maxRssKb: process.resourceUsage().maxRSS, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
}

export function serveChild(start: () => Promise<Listening>): void {
  const send = (m: FromChild) => process.send?.(m);
  start().then(
    (server) => {
      process.on("message", (m: ToChild) => {
        if (m.cmd === "usage") {
          if (m.gc) (globalThis as { gc?: () => void }).gc?.();
          send({ type: "usage", usage: usage() });
        }
        else if (m.cmd === "stop") {
          void server.close().finally(() => {
            send({ type: "stopped" });
            process.disconnect?.();
            process.exit(0);
          });
        }
      });
      // The parent went away: do not linger.
      process.on("disconnect", () => process.exit(0));
      send({ type: "ready", port: server.port });
    },
    (err: unknown) => {
      send({ type: "error", message: (err as Error).stack ?? String(err) });
      process.exit(1);
    },
  );
}
