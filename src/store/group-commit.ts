import type Database from "better-sqlite3";

interface Pending {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: the writes of one event-loop turn run in one transaction, so one fsync covers
 * them all, and each promise settles only after that commit. A write that throws is rolled back
 * alone (a savepoint each) and rejects; the others still commit.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  /**
   * The batch's transaction and each write's savepoint in it, built once: better-sqlite3's
   * db.transaction() builds four wrapper functions each time it is called, which had been
   * once per write (bench/PROFILE.md).
   */
  private readonly inBatch: Database.Transaction<(batch: Pending[], outcomes: { ok: boolean; value: unknown }[]) => void>;
  private readonly inSavepoint: Database.Transaction<(run: () => unknown) => unknown>;

  constructor(db: Database.Database) {
    this.inSavepoint = db.transaction((run: () => unknown) => run());
    this.inBatch = db.transaction((batch: Pending[], outcomes: { ok: boolean; value: unknown }[]) => {
      for (const item of batch) {
        try {
          outcomes.push({ ok: true, value: this.inSavepoint(item.run) });
        } catch (err) {
          outcomes.push({ ok: false, value: err });
        }
      }
    });
  }

  write<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      this.flushing ??= new Promise((done) => setImmediate(() => done(this.flush())));
    });
  }

  /** Resolves once every queued write has committed. */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    this.flushing = undefined;
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.inBatch.immediate(batch, outcomes);
    } catch (err) {
      for (const item of batch) item.reject(err);
      return;
    }
    batch.forEach((item, i) => (outcomes[i]!.ok ? item.resolve(outcomes[i]!.value) : item.reject(outcomes[i]!.value)));
  }
}
