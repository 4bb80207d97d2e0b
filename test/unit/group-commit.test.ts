import fs, { fstatSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { GroupCommit, StoreSyncError, walFiles, type GroupCommitOptions, type WalFiles } from "../../src/store/group-commit.js";

/** Syncs that the test finishes by hand; every call is logged, as are the writes' runs. */
class ManualSyncs {
  readonly log: string[] = [];
  private readonly waiting: { what: string; resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(private readonly walBytes: () => number = () => 0) {}

  files(): WalFiles {
    return { syncWal: () => this.sync("sync wal"), syncDatabase: () => this.sync("sync db"), walBytes: this.walBytes, close: () => undefined };
  }

  /** Waits until a sync is asked for, and names it. */
  async next(): Promise<string> {
    for (let turns = 0; this.waiting.length === 0; turns++) {
      if (turns > 1000) throw new Error("no sync was asked for");
      await new Promise((resolve) => setImmediate(resolve));
    }
    return this.waiting[0]!.what;
  }

  /** Finishes the sync asked for first, or the one asked for last (it must be `what`). */
  async finish(what: string, err?: Error, which: "oldest" | "newest" = "oldest"): Promise<void> {
    expect(await this.next()).toBe(what);
    const sync = which === "oldest" ? this.waiting.shift()! : this.waiting.pop()!;
    if (err) sync.reject(err);
    else sync.resolve();
  }

  private sync(what: string): Promise<void> {
    this.log.push(what);
    return new Promise((resolve, reject) => this.waiting.push({ what, resolve, reject }));
  }
}

/** Syncs that succeed on the next turn. */
const quickFiles: WalFiles = {
  syncWal: () => new Promise((resolve) => setImmediate(resolve)),
  syncDatabase: () => new Promise((resolve) => setImmediate(resolve)),
  walBytes: () => 0,
  close: () => undefined,
};

/** Whether a promise has settled by now (after the microtasks queued before this call). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  const marker = Symbol();
  return (await Promise.race([p.then(() => undefined, () => undefined), new Promise((resolve) => setImmediate(() => resolve(marker)))])) !== marker;
}

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

function memoryTable(): { db: Database.Database; insert: Database.Statement<[number]>; count: () => number } {
  const db = new Database(":memory:");
  db.exec("CREATE TABLE t (v INTEGER PRIMARY KEY)");
  const insert = db.prepare<[number]>("INSERT INTO t (v) VALUES (?)");
  return { db, insert, count: () => db.prepare("SELECT COUNT(*) AS n FROM t").pluck().get() as number };
}

/** A group commit on a memory table with syncs finished by hand; write(v) inserts v, logging "run v". */
function loggedCommits(options: Partial<GroupCommitOptions> = {}) {
  const { db, insert, count } = memoryTable();
  const syncs = new ManualSyncs();
  const commits = new GroupCommit(db, { files: syncs.files(), ...options });
  const write = (v: number) => commits.write(() => (syncs.log.push(`run ${v}`), insert.run(v).changes));
  return { db, count, syncs, commits, write };
}

describe("group commit", () => {
  it("commits the writes of one turn together, and rolls back only a write that throws", async () => {
    const { db, insert } = memoryTable();
    const commits = new GroupCommit(db, { files: quickFiles });
    const results = await Promise.allSettled([
      commits.write(() => insert.run(1).changes),
      commits.write(() => {
        insert.run(2);
        throw new Error("refused");
      }),
      commits.write(() => insert.run(1).changes),
      commits.write(() => insert.run(3).changes),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "rejected", "fulfilled"]);
    expect((results[1] as PromiseRejectedResult).reason).toHaveProperty("message", "refused");
    expect((results[2] as PromiseRejectedResult).reason).toHaveProperty("code", "SQLITE_CONSTRAINT_PRIMARYKEY");
    expect(db.prepare("SELECT v FROM t ORDER BY v").pluck().all()).toEqual([1, 3]);
    await commits.drain();
    db.close();
  });

  it("rejects every write of a batch whose transaction cannot commit", async () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE t (v INTEGER)");
    const commits = new GroupCommit(db, { files: quickFiles });
    const pending = [commits.write(() => 1), commits.write(() => 2)];
    // Closed before the batch runs (it runs on the next turn): its transaction cannot begin.
    db.close();
    const results = await Promise.allSettled(pending);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  });

  it("takes the syncs over: synchronous OFF and no automatic checkpoints on its connection", () => {
    const { db } = memoryTable();
    new GroupCommit(db, { files: quickFiles });
    expect(db.pragma("synchronous", { simple: true })).toBe(0);
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(0);
    db.close();
  });

  it("answers a write only once the sync after its batch's commit succeeded; a batch made during that sync commits and syncs at once, a third waits for a sync to end", async () => {
    const { db, syncs, write } = loggedCommits();
    const a = write(1);
    expect(await syncs.next()).toBe("sync wal");
    expect(await settled(a)).toBe(false);
    // Made while the first batch's sync runs: it commits, and its own sync starts, on the next turn.
    const b = write(2);
    await turns(3);
    expect(syncs.log).toEqual(["run 1", "sync wal", "run 2", "sync wal"]);
    // Two syncs run: a third batch waits for one of them to end.
    const c = write(3);
    await turns(3);
    expect(syncs.log).toEqual(["run 1", "sync wal", "run 2", "sync wal"]);
    await syncs.finish("sync wal");
    expect(await a).toBe(1);
    expect(syncs.log).toEqual(["run 1", "sync wal", "run 2", "sync wal", "run 3", "sync wal"]);
    expect(await settled(b)).toBe(false);
    await syncs.finish("sync wal");
    expect(await b).toBe(1);
    expect(await settled(c)).toBe(false);
    await syncs.finish("sync wal");
    expect(await c).toBe(1);
    db.close();
  });

  it("commits a full batch (maxBatch writes) at once, before the turn ends, so that its sync runs while the next batch gathers", async () => {
    const { db, count, syncs, write } = loggedCommits({ maxBatch: 2 });
    const [a, b] = [write(1), write(2)];
    await Promise.resolve();
    // Committed and syncing in the same turn as the writes, not on the next one.
    expect(syncs.log).toEqual(["run 1", "run 2", "sync wal"]);
    const [c, d] = [write(3), write(4)];
    await Promise.resolve();
    expect(syncs.log).toEqual(["run 1", "run 2", "sync wal", "run 3", "run 4", "sync wal"]);
    // Two syncs run: a third full batch waits for one of them to end, even past the end of the turn.
    const [e, f] = [write(5), write(6)];
    await turns(3);
    expect(count()).toBe(4);
    await syncs.finish("sync wal");
    expect(await Promise.all([a, b])).toEqual([1, 1]);
    expect(syncs.log.slice(6)).toEqual(["run 5", "run 6", "sync wal"]);
    await syncs.finish("sync wal");
    expect(await Promise.all([c, d])).toEqual([1, 1]);
    await syncs.finish("sync wal");
    expect(await Promise.all([e, f])).toEqual([1, 1]);
    db.close();
  });

  it("commits the writes left after a full batch at the end of the turn, and drains a full batch that is still due", async () => {
    const { db, count, syncs, commits, write } = loggedCommits({ maxBatch: 2 });
    const first = [write(1), write(2)];
    // drain() called before the full batch's microtask has run still waits for that batch.
    const drained = commits.drain();
    await Promise.resolve();
    const third = write(3);
    await turns(1);
    expect(syncs.log).toEqual(["run 1", "run 2", "sync wal", "run 3", "sync wal"]);
    expect(await settled(drained)).toBe(false);
    await syncs.finish("sync wal");
    await syncs.finish("sync wal");
    await drained;
    expect(await Promise.all([...first, third])).toEqual([1, 1, 1]);
    expect(count()).toBe(3);
    db.close();
  });

  it("answers a batch whose own sync ended first only after the earlier batch's sync, in commit order", async () => {
    const { db, insert } = memoryTable();
    const syncs = new ManualSyncs();
    const commits = new GroupCommit(db, { files: syncs.files() });
    const answers: number[] = [];
    const a = commits.write(() => insert.run(1)).then(() => answers.push(1));
    await syncs.next();
    const b = commits.write(() => insert.run(2)).then(() => answers.push(2));
    await turns(3);
    expect(syncs.log).toEqual(["sync wal", "sync wal"]);
    await syncs.finish("sync wal", undefined, "newest");
    await turns(3);
    expect(answers).toEqual([]);
    await syncs.finish("sync wal");
    await Promise.all([a, b]);
    expect(answers).toEqual([1, 2]);
    db.close();
  });

  it("drains only once every running sync has ended, also when an earlier one failed and its batch was answered first", async () => {
    const { db, insert } = memoryTable();
    const syncs = new ManualSyncs();
    const commits = new GroupCommit(db, { files: syncs.files(), onSyncFailure: () => undefined });
    const a = commits.write(() => insert.run(1));
    await syncs.next();
    const b = commits.write(() => insert.run(2));
    await turns(3);
    await syncs.finish("sync wal", Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    await expect(a).rejects.toBeInstanceOf(StoreSyncError);
    await expect(b).rejects.toBeInstanceOf(StoreSyncError);
    // B's own sync still runs: the files may not be closed yet.
    const drained = commits.drain();
    expect(await settled(drained)).toBe(false);
    await syncs.finish("sync wal");
    await drained;
    db.close();
  });

  it("checkpoints only once every running sync has ended, and commits the waiting writes after it", async () => {
    const { db, insert } = memoryTable();
    let walBytes = 0;
    const syncs = new ManualSyncs(() => walBytes);
    const commits = new GroupCommit(db, { files: syncs.files(), checkpointBytes: 1 });
    const write = (v: number) => commits.write(() => (syncs.log.push(`run ${v}`), insert.run(v).changes));
    const a = write(1);
    await syncs.next();
    const b = write(2);
    await turns(3);
    walBytes = 2;
    const c = write(3);
    await syncs.finish("sync wal");
    await a;
    await turns(3);
    // One sync still runs: no checkpoint yet, and no commit.
    expect(syncs.log).toEqual(["run 1", "sync wal", "run 2", "sync wal"]);
    await syncs.finish("sync wal");
    await b;
    expect(await syncs.next()).toBe("sync db");
    walBytes = 0;
    await syncs.finish("sync db");
    expect(await syncs.next()).toBe("sync wal");
    expect(syncs.log).toEqual(["run 1", "sync wal", "run 2", "sync wal", "sync db", "run 3", "sync wal"]);
    await syncs.finish("sync wal");
    expect(await c).toBe(1);
    db.close();
  });

  it("rejects a later batch whose own sync succeeded when an earlier batch's sync failed (its frames follow lost ones), and says so once", async () => {
    const { db, insert } = memoryTable();
    const syncs = new ManualSyncs();
    const told = vi.fn();
    const commits = new GroupCommit(db, { files: syncs.files(), onSyncFailure: told });
    const a = commits.write(() => insert.run(1));
    await syncs.next();
    const b = commits.write(() => insert.run(2));
    await turns(3);
    expect(syncs.log).toEqual(["sync wal", "sync wal"]);
    await syncs.finish("sync wal", undefined, "newest");
    await syncs.finish("sync wal", Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    await expect(a).rejects.toBeInstanceOf(StoreSyncError);
    await expect(b).rejects.toBeInstanceOf(StoreSyncError);
    await expect(commits.read(() => 1)).rejects.toBeInstanceOf(StoreSyncError);
    expect(told).toHaveBeenCalledTimes(1);
    await commits.drain();
    db.close();
  });

  it("commits the writes queued during a sync, and starts their sync, before answering the synced batch", async () => {
    const { db, syncs, commits, write } = loggedCommits();
    const a = write(1).then(() => syncs.log.push("answer 1"));
    await syncs.next();
    const b = write(2).then(() => syncs.log.push("answer 2"));
    const c = write(3).then(() => syncs.log.push("answer 3"));
    await syncs.finish("sync wal");
    await a;
    expect(syncs.log).toEqual(["run 1", "sync wal", "run 2", "run 3", "sync wal", "answer 1"]);
    // A read now may see writes 2 and 3: it waits for their sync.
    const r = commits.read(() => "seen");
    expect(await settled(r)).toBe(false);
    await syncs.finish("sync wal");
    await Promise.all([b, c, r]);
    expect(syncs.log).toEqual(["run 1", "sync wal", "run 2", "run 3", "sync wal", "answer 1", "answer 2", "answer 3"]);
    db.close();
  });

  it("answers writes in the order they were made, each one once durable, over many batches", async () => {
    const { db, insert, count } = memoryTable();
    let synced = 0;
    const files: WalFiles = { ...quickFiles, syncWal: () => new Promise((resolve) => setTimeout(() => (synced = count(), resolve()), 1)) };
    const commits = new GroupCommit(db, { files });
    const answered: number[] = [];
    const writes: Promise<void>[] = [];
    for (let turn = 0; turn < 10; turn++) {
      for (let i = 0; i < 10; i++) {
        const v = turn * 10 + i;
        writes.push(commits.write(() => insert.run(v)).then(() => {
          // Its commit was synced: the last sync began after its row was there.
          expect(synced).toBeGreaterThan(v);
          answered.push(v);
        }));
      }
      await new Promise((resolve) => setTimeout(resolve, turn % 3));
    }
    await Promise.all(writes);
    expect(answered).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(count()).toBe(100);
    db.close();
  });

  it("answers a read made after a commit once that commit is synced, and a read with nothing to sync at once", async () => {
    const { db, insert, count } = memoryTable();
    const syncs = new ManualSyncs();
    const commits = new GroupCommit(db, { files: syncs.files() });
    expect(await commits.read(count)).toBe(0);
    const w = commits.write(() => insert.run(7));
    await syncs.next();
    // The connection sees the commit; the caller must not, until it is durable.
    const r = commits.read(count);
    expect(await settled(r)).toBe(false);
    await syncs.finish("sync wal");
    expect(await r).toBe(1);
    await w;
    expect(await commits.read(count)).toBe(1);
    db.close();
  });

  describe("on a WAL file", () => {
    let dir: string;
    let file: string;
    let db: Database.Database;
    let real: WalFiles;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "sc-commit-"));
      file = join(dir, "t.db");
      db = new Database(file);
      db.pragma("journal_mode = WAL");
      db.exec("CREATE TABLE t (v INTEGER PRIMARY KEY, pad BLOB)");
      // The WAL starts empty, so that the first batch needs no checkpoint.
      db.pragma("wal_checkpoint(TRUNCATE)");
      real = walFiles(file);
    });
    afterEach(() => {
      db.close();
      real.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it("gives two syncs of the -wal file at once two descriptors of it, so each sees every write-back error since its own last sync", async () => {
      const realSync = fs.fdatasync;
      const started: number[] = [];
      const finish: (() => void)[] = [];
      vi.spyOn(fs, "fdatasync").mockImplementation(((fd: number, done: (err: NodeJS.ErrnoException | null) => void) => {
        started.push(fd);
        finish.push(() => realSync(fd, done));
      }) as typeof fs.fdatasync);
      const first = real.syncWal();
      const second = real.syncWal();
      await expect(real.syncWal()).rejects.toThrow(/more than 2 syncs of the -wal file at once/);
      expect(started).toHaveLength(2);
      expect(started[0]).not.toBe(started[1]);
      const wal = statSync(`${file}-wal`).ino;
      expect(started.map((fd) => fstatSync(fd).ino)).toEqual([wal, wal]);
      finish[0]!();
      await first;
      // The descriptor the first sync freed serves the next one.
      const third = real.syncWal();
      expect(started[2]).toBe(started[0]);
      finish[1]!();
      finish[2]!();
      await Promise.all([second, third]);
      vi.restoreAllMocks();
    });

    it("checkpoints between batches: syncs the database file before the WAL starts over, and reuses the WAL file in place", async () => {
      const syncs = new ManualSyncs(real.walBytes);
      const commits = new GroupCommit(db, { files: syncs.files(), checkpointBytes: 1 });
      const insert = db.prepare("INSERT INTO t (v, pad) VALUES (?, zeroblob(10000))");
      const write = (v: number) => commits.write(() => (syncs.log.push(`run ${v}`), insert.run(v).changes));
      const onDisk = () => {
        // What a new connection finds in the database file alone (the WAL left out).
        const copy = new Database(file, { readonly: true });
        try {
          return copy.prepare("SELECT COUNT(*) FROM t").pluck().get() as number;
        } finally {
          copy.close();
        }
      };

      const a = write(1);
      await syncs.finish("sync wal");
      await a;
      const walAfterA = real.walBytes();
      expect(walAfterA).toBeGreaterThan(10_000);

      const b = write(2);
      // Before B: the frames are copied, and the database file must be synced while the WAL still holds them.
      expect(await syncs.next()).toBe("sync db");
      expect(real.walBytes()).toBe(walAfterA);
      await turns(5);
      expect(real.walBytes()).toBe(walAfterA);
      expect(syncs.log).toEqual(["run 1", "sync wal", "sync db"]);
      expect(onDisk()).toBe(1);
      await syncs.finish("sync db");
      // Then B starts the WAL over in place: its frames are written from the start, not appended.
      expect(await syncs.next()).toBe("sync wal");
      expect(syncs.log).toEqual(["run 1", "sync wal", "sync db", "run 2", "sync wal"]);
      expect(real.walBytes()).toBeLessThanOrEqual(walAfterA);
      await syncs.finish("sync wal");
      await b;
      expect(db.prepare("SELECT COUNT(*) FROM t").pluck().get()).toBe(2);
      expect(db.pragma("synchronous", { simple: true })).toBe(0);
    });

    it("goes back to synchronous FULL while another connection keeps frames of the WAL from being copied", async () => {
      const commits = new GroupCommit(db, { files: { ...quickFiles, walBytes: real.walBytes }, checkpointBytes: 1 });
      const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
      await commits.write(() => insert.run(1));
      // A reader in another connection holds a snapshot that uses the WAL: frames committed after it cannot be copied.
      const reader = new Database(file);
      reader.exec("BEGIN");
      reader.prepare("SELECT COUNT(*) FROM t").get();
      await commits.write(() => insert.run(2));
      expect(db.pragma("synchronous", { simple: true })).toBe(0);
      await commits.write(() => insert.run(3));
      expect(db.pragma("synchronous", { simple: true })).toBe(2);
      reader.exec("COMMIT");
      reader.close();
      await commits.write(() => insert.run(4));
      expect(db.pragma("synchronous", { simple: true })).toBe(0);
      expect(db.prepare("SELECT COUNT(*) FROM t").pluck().get()).toBe(4);
  });
  });

  it("rejects the writes of a batch whose sync failed, says so once, and refuses every later call", async () => {
    const { db, insert } = memoryTable();
    const syncs = new ManualSyncs();
    const told = vi.fn();
    const commits = new GroupCommit(db, { files: syncs.files(), onSyncFailure: told });
    const batch = [commits.write(() => insert.run(1)), commits.write(() => insert.run(2))];
    await syncs.next();
    const queued = commits.write(() => insert.run(3));
    const read = commits.read(() => 1);
    await syncs.finish("sync wal", Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    for (const p of [...batch, queued, read]) await expect(p).rejects.toBeInstanceOf(StoreSyncError);
    await expect(batch[0]).rejects.toThrow(/could not make its commits durable \(EIO\)/);
    const later = vi.fn(() => 1);
    await expect(commits.write(later)).rejects.toBeInstanceOf(StoreSyncError);
    await expect(commits.read(later)).rejects.toBeInstanceOf(StoreSyncError);
    expect(later).not.toHaveBeenCalled();
    expect(syncs.log).toEqual(["sync wal"]);
    expect(told).toHaveBeenCalledTimes(1);
    await commits.drain();
    db.close();
  });

  it("rejects the writes waiting on a checkpoint whose database sync failed, and refuses every later call", async () => {
    const { db, insert, count } = memoryTable();
    const syncs = new ManualSyncs(() => 2);
    const told = vi.fn();
    const commits = new GroupCommit(db, { files: syncs.files(), checkpointBytes: 1, onSyncFailure: told });
    const a = commits.write(() => insert.run(1));
    await syncs.finish("sync db", Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    await expect(a).rejects.toBeInstanceOf(StoreSyncError);
    await expect(commits.write(() => insert.run(2))).rejects.toBeInstanceOf(StoreSyncError);
    expect(count()).toBe(0);
    expect(syncs.log).toEqual(["sync db"]);
    expect(told).toHaveBeenCalledTimes(1);
    await commits.drain();
    db.close();
  });

  it("drains and closes: resolves once every queued write is committed and synced", async () => {
    const { db, insert } = memoryTable();
    const syncs = new ManualSyncs();
    const commits = new GroupCommit(db, { files: syncs.files() });
    const a = commits.write(() => insert.run(1));
    const drained = commits.drain();
    await syncs.next();
    const b = commits.write(() => insert.run(2));
    expect(await settled(drained)).toBe(false);
    await syncs.finish("sync wal");
    await syncs.finish("sync wal");
    await drained;
    expect(await settled(a)).toBe(true);
    expect(await settled(b)).toBe(true);
    // Closing drains too, and then refuses writes.
    const c = commits.write(() => insert.run(3));
    const closed = commits.close();
    await syncs.finish("sync wal");
    await closed;
    expect(await settled(c)).toBe(true);
    await expect(commits.write(() => insert.run(4))).rejects.toThrow(/closed/);
    expect(syncs.log).toEqual(["sync wal", "sync wal", "sync wal"]);
    db.close();
  });
});
