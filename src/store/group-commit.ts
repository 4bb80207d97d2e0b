import fs from "node:fs";
import type Database from "better-sqlite3";

/**
 * The two files of a SQLite database in WAL mode whose syncs the group commit makes itself, on
 * libuv's thread pool rather than on the event loop.
 */
export interface WalFiles {
  /** Makes everything written to the -wal file so far durable (fdatasync). */
  syncWal(): Promise<void>;
  /** Makes everything written to the database file so far durable (fdatasync). */
  syncDatabase(): Promise<void>;
  /** The -wal file's size in bytes now. */
  walBytes(): number;
  close(): void;
}

/** Syncs running at once: a batch commits, and its sync starts, while the sync of the batch before it still runs. */
const MAX_SYNCS = 2;

/**
 * Opens its own descriptors of `file` and `file`-wal. Call it once the connection is in WAL mode,
 * so that the -wal file exists: SQLite keeps that file (the same inode) while a connection is open,
 * starting it over in place or truncating it, and deletes it only when the last one closes. On
 * Linux an fdatasync flushes the inode's data whichever descriptor it is called on.
 *
 * The -wal file has one descriptor per sync that may run at once (MAX_SYNCS), and a sync takes one
 * that no other sync is using: Linux reports a write-back error once per open file, to the first
 * fsync on it that checks, so two syncs sharing a descriptor could each miss an error the other
 * took. With its own, each sync sees every error since that descriptor's previous sync ended,
 * which was before any write of the sync's batch.
 */
export function walFiles(file: string): WalFiles {
  const opened: number[] = [];
  try {
    opened.push(fs.openSync(file, "r"));
    for (let i = 0; i < MAX_SYNCS; i++) opened.push(fs.openSync(`${file}-wal`, "r"));
  } catch (err) {
    for (const fd of opened) fs.closeSync(fd);
    throw err;
  }
  const [db, ...wals] = opened as [number, ...number[]];
  const idle = [...wals];
  // Looked up on each call (not bound at import), so that a test can watch the syncs.
  const sync = (fd: number) => new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  return {
    async syncWal() {
      const fd = idle.pop();
      if (fd === undefined) throw new Error(`more than ${MAX_SYNCS} syncs of the -wal file at once`);
      try {
        await sync(fd);
      } finally {
        idle.push(fd);
      }
    },
    syncDatabase: () => sync(db),
    walBytes: () => fs.fstatSync(wals[0]!).size,
    close() {
      for (const fd of opened) fs.closeSync(fd);
    },
  };
}

export interface GroupCommitOptions {
  files: WalFiles;
  /**
   * Checkpoint between batches once the -wal file holds this many bytes; default 16 MiB. Each
   * checkpoint holds the commits back while the database file syncs, so fewer of them cost less
   * (at 4 MiB, about SQLite's 1000 pages, they held the commits back ~4 % of a Terminate run).
   */
  checkpointBytes?: number;
  /**
   * Once this many writes are queued, they commit on the next microtask (if no checkpoint runs and
   * fewer than MAX_SYNCS syncs do) rather than at the end of the turn; default 16. A trigger, not
   * a cap: the commit takes every write queued by then. Under load the disk then syncs one batch
   * while the loop still works on the calls of the next, instead of every call in flight waiting
   * on one sync.
   */
  maxBatch?: number;
  /** Told (once) that a sync failed and the store takes no more calls; the error has no data of the writes. */
  onSyncFailure?: (err: Error) => void;
}

interface Pending {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: boolean; value: unknown };

/** A sync failed: what was committed since the last good sync may not be on disk, so nothing more is answered. */
export class StoreSyncError extends Error {
  constructor(cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    super(`the store could not make its commits durable${code ? ` (${code})` : ""}; restart the service`, { cause });
    this.name = "StoreSyncError";
  }
}

/**
 * Group commit with the fsync off the event loop. The queued writes run in one transaction when
 * a commit runs: at the end of the event-loop turn, on the next microtask once `maxBatch` are
 * queued, or when a sync or checkpoint that held them back ends (a savepoint each: a write that
 * throws is rolled back alone and rejects); each write's promise settles only once the batch is
 * durable.
 *
 * Durability (power loss, not only a crash). The connection runs `synchronous = OFF`, so a commit
 * only write()s its frames, the commit frame last, to the -wal file, and then this class makes
 * them durable itself:
 *
 * - After each batch's COMMIT, an fdatasync of the -wal file runs on libuv's thread pool; the
 *   batch's promises resolve after it succeeded. fdatasync returns once every byte written to the
 *   file before the call (and its size) is on stable storage, so every commit of this batch and of
 *   earlier ones is durable. SQLite's recovery replays the WAL's frames up to the last valid commit
 *   frame (salts and cumulative checksums), so a commit that is only partly on disk is dropped
 *   whole, and it is one that nobody was told about. Two syncs may run at once: a batch commits,
 *   and its sync starts, at the end of the turn of its writes (or on the next microtask once
 *   `maxBatch` are queued) even while the sync of the batch before it runs (the loop commits and
 *   answers while the disk syncs); with two running, the writes queued
 *   meanwhile commit the moment one ends, before that batch's callers are answered. A batch is
 *   answered once its own sync and every earlier one succeeded, so promises resolve in commit
 *   order, and a batch whose frames follow those of a failed sync is never acknowledged (after a
 *   failed fsync the earlier frames may be lost, and recovery stops at them).
 * - Reads answer callers (replays of a request id, already-terminated, GetSession), so none may
 *   answer from a commit that power loss could still take back: `read()` runs at once on the
 *   connection (which sees committed frames) and hands its value over once the sync covering every
 *   commit it could see has succeeded.
 * - Automatic checkpoints are off (`wal_autocheckpoint = 0`): SQLite would copy frames into the
 *   database file and start the WAL over without any sync. Checkpoints run here, between batches,
 *   when the -wal file has grown past `checkpointBytes` and every commit in it is synced (no sync runs):
 *   (1) a PASSIVE checkpoint copies every frame into the database file; (2) an fdatasync of the
 *   database file, before anything else is written. Once every frame is in the database file, the
 *   next write transaction starts the WAL over in place (a new header with new salts, frames from
 *   the start) and, `journal_size_limit` being `checkpointBytes`, its commit cuts the file back to
 *   that size: the file is reused, not grown from nothing again (a growing file costs every write
 *   and every fdatasync a block allocation and a journal commit, bench/PROFILE.md). Power loss
 *   before the new commit's sync leaves either the old header, under which recovery stops at the
 *   first new frame (another salt) or replays old frames whose pages (2) already made durable in
 *   the database file, or the new header, under which old frames (old salt) and a torn commit are
 *   dropped. Without (2), power loss after the WAL started over could lose commits the database file
 *   did not hold yet. When (1) cannot copy every frame (another process reads the file), the
 *   connection goes back to `synchronous = FULL`, so SQLite syncs itself (blocking, as before), until
 *   a later checkpoint copies them all.
 * - A failed sync rejects the writes of its batch and makes the store refuse every later call:
 *   after a failed fsync, Linux may drop the dirty pages and report the next fsync as good, so no
 *   later commit could be acknowledged safely. A restart recovers from what is on disk.
 * - close() drains every queued write (each synced), then the store's close() switches the
 *   connection to `synchronous = FULL`, so SQLite's last checkpoint syncs the database file before
 *   it deletes the -wal file.
 */
export class GroupCommit {
  private queue: Pending[] = [];
  /** A commit is due on the next turn (the writes of the rest of this turn join its batch), or on the next microtask (a full batch). */
  private readonly due = { turn: false, microtask: false };
  /**
   * Syncs running now: at most MAX_SYNCS; the end of one commits what queued meanwhile, and drain()
   * waits for every one (a batch after a failed sync is answered before its own sync ends).
   */
  private readonly running = new Set<Promise<void>>();
  /** Settles once every commit so far is durable (the latest batch's sync, and every sync before it); undefined once it has. */
  private durable: Promise<void> | undefined;
  /** The checkpoint running between two batches. */
  private checkpointing: Promise<void> | undefined;
  private failure: StoreSyncError | undefined;
  private closed = false;
  /** Checkpoint once the -wal file holds this many bytes. */
  private checkpointAt: number;
  private readonly files: WalFiles;
  private readonly checkpointBytes: number;
  private readonly maxBatch: number;
  private readonly onSyncFailure: (err: Error) => void;
  /**
   * The batch's transaction and each write's savepoint in it, built once: better-sqlite3's
   * db.transaction() builds four wrapper functions each time it is called, which had been
   * once per write (bench/PROFILE.md).
   */
  private readonly inBatch: Database.Transaction<(batch: Pending[], outcomes: Outcome[]) => void>;
  private readonly inSavepoint: Database.Transaction<(run: () => unknown) => unknown>;

  constructor(
    private readonly db: Database.Database,
    options: GroupCommitOptions,
  ) {
    this.files = options.files;
    this.checkpointBytes = options.checkpointBytes ?? 16 * 1024 * 1024;
    this.maxBatch = options.maxBatch ?? 16;
    this.checkpointAt = this.checkpointBytes;
    this.onSyncFailure = options.onSyncFailure ?? (() => undefined);
    db.pragma("synchronous = OFF");
    db.pragma("wal_autocheckpoint = 0");
    db.pragma(`journal_size_limit = ${this.checkpointBytes}`);
    this.inSavepoint = db.transaction((run: () => unknown) => run());
    this.inBatch = db.transaction((batch: Pending[], outcomes: Outcome[]) => {
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
    if (this.failure || this.closed) return Promise.reject(this.failure ?? new Error("the store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (this.queue.length >= this.maxBatch) this.commitLater("microtask");
      this.commitLater("turn");
    });
  }

  /** Runs a read now, and answers it once every commit it could have seen is durable. */
  read<T>(run: () => T): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    let value: T;
    try {
      value = run();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.durable ? this.durable.then(() => value) : Promise.resolve(value);
  }

  /** Resolves once every queued write has committed and been synced (or rejected). */
  async drain(): Promise<void> {
    for (;;) {
      const busy = this.durable ?? this.checkpointing ?? (this.running.size > 0 ? Promise.allSettled(this.running) : undefined) ?? (this.due.turn ? new Promise((resolve) => setImmediate(resolve)) : undefined);
      if (!busy) return;
      await busy.catch(() => undefined);
    }
  }

  /** Drains, then takes no more writes: the connection and the files may be closed after it. */
  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
  }

  /**
   * Commits the queue on the next turn, or on the next microtask once a batch is full (never inside
   * a write's transaction); not while a checkpoint or MAX_SYNCS syncs run: their end commits it.
   */
  private commitLater(when: "turn" | "microtask"): void {
    if (this.due[when] || !this.mayCommit()) return;
    this.due[when] = true;
    (when === "turn" ? setImmediate : queueMicrotask)(() => {
      this.due[when] = false;
      if (this.mayCommit()) this.commitQueue();
    });
  }

  private mayCommit(): boolean {
    return this.running.size < MAX_SYNCS && !this.checkpointing;
  }

  /** Commits the queued writes as one batch and starts its sync; called with fewer than MAX_SYNCS syncs running. */
  private commitQueue(checkpointed = false): void {
    if (this.failure) {
      for (const item of this.queue.splice(0)) item.reject(this.failure);
      return;
    }
    if (this.queue.length === 0) return;
    // The -wal file keeps its size after a checkpoint, until the next commit starts it over.
    if (!checkpointed && this.files.walBytes() > this.checkpointAt) {
      // A checkpoint needs every commit synced: the end of the last sync running comes back here.
      if (this.running.size > 0) return;
      this.checkpointing = this.checkpoint().catch((err: unknown) => void this.fail(err));
      void this.checkpointing.then(() => {
        this.checkpointing = undefined;
        this.commitQueue(true);
      });
      return;
    }
    const batch = this.queue;
    this.queue = [];
    const outcomes: Outcome[] = [];
    try {
      this.inBatch.immediate(batch, outcomes);
    } catch (err) {
      for (const item of batch) item.reject(err);
      return;
    }
    // A failed sync stops the store before anything else hears of it (no batch commits after it).
    const own = this.files.syncWal().catch((err: unknown) => {
      throw this.fail(err);
    });
    const earlier = this.durable;
    // This batch is durable once its own sync and every earlier one succeeded: answers go out in commit order.
    const durable = earlier ? Promise.all([earlier, own]).then(() => undefined) : own;
    this.durable = durable;
    this.running.add(own);
    const freed = () => {
      this.running.delete(own);
      this.commitQueue();
    };
    own.then(freed, freed);
    const answer = () => this.answer(batch, outcomes, durable);
    durable.then(answer, answer);
  }

  /**
   * A batch is durable (or a sync failed). The writes queued meanwhile were committed, and their
   * sync started, when a sync ended (before this), so the disk is not idle while this batch's
   * callers are answered.
   */
  private answer(batch: Pending[], outcomes: Outcome[], durable: Promise<void>): void {
    if (this.durable === durable) this.durable = undefined;
    batch.forEach((item, i) => {
      if (this.failure) item.reject(this.failure);
      else if (outcomes[i]!.ok) item.resolve(outcomes[i]!.value);
      else item.reject(outcomes[i]!.value);
    });
  }

  /** Between batches, every commit synced: see the class comment, steps (1) and (2). */
  private async checkpoint(): Promise<void> {
    const copied = this.copyWal();
    await this.files.syncDatabase();
    if (copied) {
      this.db.pragma("synchronous = OFF");
      this.checkpointAt = this.checkpointBytes;
    } else {
      // Another connection holds frames of the WAL: SQLite syncs itself until they can all be copied.
      this.db.pragma("synchronous = FULL");
      this.checkpointAt = this.files.walBytes() + this.checkpointBytes;
    }
  }

  /** A PASSIVE checkpoint: true when every frame was copied into the database file; never waits for another connection. */
  private copyWal(): boolean {
    const timeout = this.db.pragma("busy_timeout", { simple: true }) as number | bigint;
    this.db.pragma("busy_timeout = 0");
    try {
      const [r] = this.db.pragma("wal_checkpoint(PASSIVE)") as { busy: number | bigint; log: number | bigint; checkpointed: number | bigint }[];
      return Number(r!.busy) === 0 && Number(r!.log) === Number(r!.checkpointed);
    } finally {
      this.db.pragma(`busy_timeout = ${timeout}`);
    }
  }

  /** The first failed sync stops the store (said once); later failures keep the first error. */
  private fail(err: unknown): StoreSyncError {
    if (!this.failure) {
      this.failure = new StoreSyncError(err);
      this.onSyncFailure(this.failure);
    }
    return this.failure;
  }
}
