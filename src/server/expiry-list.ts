/**
 * Items that expire a fixed time after they were added, swept by one unref'd interval instead of
 * a timer per item (a timer per call costs throughput). Insertion order is expiry order.
 */
export class ExpiryList<T> {
  private readonly items = new Map<T, { at: number; onExpire: () => void }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly afterMs: number) {
    // Expiry is late by at most a quarter of the timeout (and at most a second).
    this.sweeper = setInterval(() => this.sweep(), Math.max(20, Math.min(1000, Math.floor(afterMs / 4)))).unref();
  }

  add(item: T, onExpire: () => void): void {
    this.items.set(item, { at: Date.now() + this.afterMs, onExpire });
  }

  delete(item: T): void {
    this.items.delete(item);
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.items.clear();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [item, entry] of this.items) {
      if (entry.at > now) return;
      this.items.delete(item);
      entry.onExpire();
    }
  }
}
