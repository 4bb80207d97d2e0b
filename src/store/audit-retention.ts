import type { Logger } from "pino";
import type { OutboxStore } from "./outbox-types.js";
import type { AuditStore } from "./store.js";

const DAY_MS = 86_400_000;

export interface RetentionSettings {
  /** Events older than this are deleted; 0 keeps them forever. */
  days: number;
  /** How often to look for old events; default hourly. */
  everyMs?: number;
  /** Events deleted per statement, so no run holds the store for long; default 1000. */
  batch?: number;
}

/**
 * `audit.retention_days`: deletes old audit events, and the outbox's finished deliveries and their
 * notices, at start and then periodically, in batches. Its timer does not keep the process alive.
 */
export class AuditRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private stopped = false;

  constructor(
    private readonly audit: Pick<AuditStore, "deleteEventsBefore">,
    private readonly outbox: Pick<OutboxStore, "deleteFinishedBefore">,
    private readonly settings: RetentionSettings,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.settings.days <= 0) return;
    const tick = () => void this.run().catch((err: unknown) => this.log.warn({ err }, "audit retention: deleting old events failed; trying again later"));
    tick();
    this.timer = setInterval(tick, this.settings.everyMs ?? 3_600_000).unref();
  }

  /** Deletes every event older than the retention; answers how many. One run at a time. */
  run(now = new Date()): Promise<number> {
    this.running ??= this.deleteOld(new Date(now.getTime() - this.settings.days * DAY_MS)).finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async deleteOld(cutoff: Date): Promise<number> {
    const events = await this.inBatches((limit) => this.audit.deleteEventsBefore(cutoff, limit));
    const deliveries = await this.inBatches((limit) => this.outbox.deleteFinishedBefore(cutoff, limit));
    if (events + deliveries > 0) this.log.info({ deleted: events, deliveries, before: cutoff.toISOString() }, "audit retention: deleted old events");
    return events + deliveries;
  }

  private async inBatches(deleteSome: (limit: number) => Promise<number>): Promise<number> {
    const batch = this.settings.batch ?? 1000;
    let total = 0;
    for (;;) {
      const deleted = await deleteSome(batch);
      total += deleted;
      if (deleted < batch || this.stopped) break;
      // Calls waiting on the store go first between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return total;
  }
}
