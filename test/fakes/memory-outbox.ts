import { randomUUID } from "node:crypto";
import type { Delivery, DeliveryOutcome, DeliveryStore, Notice } from "../../src/store/outbox-types.js";

interface Row extends Delivery {
  claimedUntil?: number;
}

/** The delivery worker's part of the outbox, in memory, for its tests; it counts the worker's polls. */
export class MemoryOutbox implements DeliveryStore {
  private readonly rows: Row[] = [];
  private nextId = 1n;
  /** How often dueSubscribers() was called: each is one poll of the worker. */
  polls = 0;

  /** Queues a notice for a subscriber at once; returns its delivery (a live view of it). */
  add(notice: Notice, subscriber: string, maxAgeMs = 60_000): Delivery {
    const now = new Date();
    const row: Row = { id: this.nextId++, subscriber, jti: randomUUID(), notice, state: "pending", attempts: 0, createdAt: now, updatedAt: now, nextAttemptAt: now, expiresAt: new Date(now.getTime() + maxAgeMs) };
    this.rows.push(row);
    return row;
  }

  get(id: bigint): Delivery {
    return this.rows.find((r) => r.id === id)!;
  }

  async claimDeliveries(subscriber: string, _worker: string, leaseMs: number, limit: number): Promise<Delivery[]> {
    const now = Date.now();
    const due = this.rows.filter((r) => r.subscriber === subscriber && this.isDue(r, now)).slice(0, limit);
    for (const r of due) {
      r.claimedUntil = now + leaseMs;
      r.attempts++;
    }
    return due.map((r) => ({ ...r }));
  }

  async completeDelivery(id: bigint, _worker: string, outcome: DeliveryOutcome): Promise<void> {
    const r = this.get(id) as Row;
    r.state = outcome.state;
    r.updatedAt = new Date();
    if (outcome.lastError) r.lastError = outcome.lastError;
    if (outcome.nextAttemptAt) r.nextAttemptAt = outcome.nextAttemptAt;
    delete r.claimedUntil;
  }

  async expireDeliveries(now: Date): Promise<number> {
    const expired = this.rows.filter((r) => r.state === "pending" && r.expiresAt <= now);
    for (const r of expired) r.state = "expired";
    return expired.length;
  }

  async pendingCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const r of this.rows) if (r.state === "pending") counts.set(r.subscriber, (counts.get(r.subscriber) ?? 0) + 1);
    return counts;
  }

  async dueSubscribers(): Promise<string[]> {
    this.polls++;
    const now = Date.now();
    return [...new Set(this.rows.filter((r) => this.isDue(r, now)).map((r) => r.subscriber))];
  }

  private isDue(r: Row, now: number): boolean {
    return r.state === "pending" && r.nextAttemptAt.getTime() <= now && (r.claimedUntil === undefined || r.claimedUntil < now);
  }
}
