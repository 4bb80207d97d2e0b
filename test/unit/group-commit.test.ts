import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { GroupCommit } from "../../src/store/group-commit.js";

describe("group commit", () => {
  it("commits the writes of one turn together, and rolls back only a write that throws", async () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE t (v INTEGER PRIMARY KEY)");
    const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
    const commits = new GroupCommit(db);
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
    const commits = new GroupCommit(db);
    const pending = [commits.write(() => 1), commits.write(() => 2)];
    // Closed before the batch runs (it runs on the next turn): its transaction cannot begin.
    db.close();
    const results = await Promise.allSettled(pending);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
  });
});
