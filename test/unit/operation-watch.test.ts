import { describe, expect, it, vi } from "vitest";
import type { Principal } from "../../src/auth/principal.js";
import type { OperationProgress } from "../../src/sessions/end-all-sessions.js";
import { OperationWatches, type WatchSettings } from "../../src/sessions/operation-watch.js";
import { Failure } from "../../src/status/failure.js";
import type { WorkItem } from "../../src/store/operation-types.js";
import { until } from "../helpers/wait.js";

const reader: Principal = { name: "reader", permissions: new Set(["session.read"]) };
const otherReader: Principal = { name: "other-reader", permissions: new Set(["session.read"]) };

/** One operation in memory, changed by the test; the fan-out's notices sent by hand. */
function world(settings: Partial<WatchSettings> = {}) {
  const item: WorkItem = { operationId: "op-1", provider: "chat", providerUserId: "u", kind: "end", sessionId: "s1", state: "pending", attempts: 1, nextAttemptAt: new Date() };
  const progress: OperationProgress = {
    operation: { id: "op-1", userId: "u", reason: "", requestId: "r", principal: "admin", createdAt: new Date(0), updatedAt: new Date(0), expiresAt: new Date(1e13), done: false, initiatingEntity: "admin" as never },
    items: [item],
  };
  let reads = 0;
  let failing = 0;
  const listeners = new Set<(id: string) => void>();
  const watches = new OperationWatches(
    {
      getOperation: async (id) => {
        reads++;
        if (failing > 0 && failing--) throw new Error("the store is down");
        return id === "op-1" ? structuredClone(progress) : undefined;
      },
    },
    { onProgress: (l) => (listeners.add(l), () => listeners.delete(l)) },
    { pollMs: 60_000, maxWatches: 10, maxWatchesPerCaller: 10, maxWatchMs: 60_000, ...settings },
  );
  return { watches, progress, item, reads: () => reads, failReads: (n: number) => (failing = n), notify: (id: string) => listeners.forEach((l) => l(id)), listeners };
}

/** Runs a watch in the background: what it yielded, and how it ended. */
function run(gen: AsyncGenerator<OperationProgress>) {
  const seen: OperationProgress[] = [];
  const end = (async () => {
    for await (const p of gen) seen.push(p);
    return "returned";
  })().catch((err: unknown) => (err instanceof Failure ? err.reason : err));
  return { seen, end };
}

describe("OperationWatches", () => {
  it("yields at once, then on a notice of a change that shows; a change of when an item is tried next alone is not one", async () => {
    const w = world();
    const s = run(w.watches.watch(reader, "op-1", { signal: new AbortController().signal, deadline: Date.now() + 60_000 }));
    await until("the first", () => s.seen.length === 1);
    w.item.nextAttemptAt = new Date(Date.now() + 5_000);
    const readsBefore = w.reads();
    w.notify("op-1");
    await until("the notice's read", () => w.reads() > readsBefore);
    // Another operation's notice is not read.
    w.notify("op-2");
    w.item.state = "ended";
    w.progress.operation.done = true;
    w.notify("op-1");
    expect(await s.end).toBe("returned");
    expect(s.seen.map((p) => [p.operation.done, p.items[0]!.state])).toEqual([[false, "pending"], [true, "ended"]]);
    expect(w.watches.active).toBe(0);
    expect(w.listeners.size).toBe(0);
  });

  it("without a deadline, ends at maxWatchMs with WATCH_TIME_LIMIT", async () => {
    const w = world({ maxWatchMs: 200, pollMs: 50 });
    const s = run(w.watches.watch(reader, "op-1", { signal: new AbortController().signal }));
    expect(await s.end).toBe("WATCH_TIME_LIMIT");
    expect(s.seen).toHaveLength(1);
  });

  it("stop() ends open watches with SERVER_SHUTTING_DOWN and refuses new ones; the caller's abort just returns", async () => {
    const w = world();
    const caller = new AbortController();
    const a = run(w.watches.watch(reader, "op-1", { signal: new AbortController().signal }));
    const b = run(w.watches.watch(reader, "op-1", { signal: caller.signal }));
    await until("both open", () => a.seen.length === 1 && b.seen.length === 1);
    expect(w.watches.active).toBe(2);
    caller.abort();
    expect(await b.end).toBe("returned");
    w.watches.stop();
    expect(await a.end).toBe("SERVER_SHUTTING_DOWN");
    expect(await run(w.watches.watch(reader, "op-1", { signal: new AbortController().signal })).end).toBe("SERVER_SHUTTING_DOWN");
    expect(w.watches.active).toBe(0);
  });

  it("refuses past maxWatches, without session.read, and an unknown id", async () => {
    const w = world({ maxWatches: 1 });
    const open = run(w.watches.watch(reader, "op-1", { signal: new AbortController().signal }));
    await until("one open", () => open.seen.length === 1);
    expect(await run(w.watches.watch(reader, "op-1", { signal: new AbortController().signal })).end).toBe("TOO_MANY_WATCHES");
    expect(await run(w.watches.watch({ name: "x", permissions: new Set() }, "op-1", { signal: new AbortController().signal })).end).toBe("PERMISSION_DENIED");
    w.watches.stop();
    await open.end;
    const fresh = world();
    expect(await run(fresh.watches.watch(reader, "nope", { signal: new AbortController().signal })).end).toBe("OPERATION_NOT_FOUND");
    expect(fresh.watches.active).toBe(0);
  });

  it("refuses a caller past maxWatchesPerCaller, saying the limit is per caller, while another caller still gets a watch", async () => {
    const w = world({ maxWatches: 10, maxWatchesPerCaller: 2 });
    const mine = [0, 1].map(() => run(w.watches.watch(reader, "op-1", { signal: new AbortController().signal })));
    await until("two open", () => mine.every((s) => s.seen.length === 1));
    const refused = await w.watches.watch(reader, "op-1", { signal: new AbortController().signal }).next().catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(Failure);
    expect(refused).toMatchObject({ code: "RESOURCE_EXHAUSTED", reason: "TOO_MANY_WATCHES", retryable: true });
    expect((refused as Failure).message).toContain("each caller follows at most 2");
    expect((refused as Failure).message).toContain("operations.max_watches_per_caller");
    const other = run(w.watches.watch(otherReader, "op-1", { signal: new AbortController().signal }));
    await until("the other caller's watch", () => other.seen.length === 1);
    expect(w.watches.active).toBe(3);
    w.watches.stop();
    expect(await Promise.all([...mine, other].map((s) => s.end))).toEqual(["SERVER_SHUTTING_DOWN", "SERVER_SHUTTING_DOWN", "SERVER_SHUTTING_DOWN"]);
    expect(w.watches.active).toBe(0);
  });

  it("a caller's watch that ended frees its place under maxWatchesPerCaller", async () => {
    const w = world({ maxWatchesPerCaller: 1 });
    const cancel = new AbortController();
    const first = run(w.watches.watch(reader, "op-1", { signal: cancel.signal }));
    await until("the first open", () => first.seen.length === 1);
    cancel.abort();
    expect(await first.end).toBe("returned");
    const second = run(w.watches.watch(reader, "op-1", { signal: new AbortController().signal }));
    await until("the second open", () => second.seen.length === 1);
    w.watches.stop();
    expect(await second.end).toBe("SERVER_SHUTTING_DOWN");
  });

  it("N watchers of one operation share one read: at once, on each notice, and on each poll; the reader stops when the last leaves", async () => {
    const N = 10;
    const w = world();
    const callers = Array.from({ length: N }, () => new AbortController());
    const streams = callers.map((c) => run(w.watches.watch(reader, "op-1", { signal: c.signal })));
    await until("every watcher's first message", () => streams.every((s) => s.seen.length === 1));
    expect(w.reads()).toBe(1);
    expect(w.listeners.size).toBe(1);
    // A notice without a change: one read for all of them, and nothing sent.
    w.notify("op-1");
    await until("the notice's read", () => w.reads() === 2);
    // A change and its notice: one more read, sent to every watcher.
    w.item.state = "ended";
    w.item.attempts = 2;
    w.notify("op-1");
    await until("every watcher's second message", () => streams.every((s) => s.seen.length === 2));
    expect(w.reads()).toBe(3);
    expect(streams.every((s) => s.seen[1]!.items[0]!.state === "ended")).toBe(true);
    for (const c of callers) c.abort();
    expect(await Promise.all(streams.map((s) => s.end))).toEqual(Array(N).fill("returned"));
    expect(w.watches.active).toBe(0);
    expect(w.listeners.size).toBe(0);
  });

  it("polls once per pollMs for all watchers of an operation, and not at all once the last has left", async () => {
    vi.useFakeTimers();
    try {
      const pollMs = 50;
      const w = world({ pollMs });
      const callers = Array.from({ length: 10 }, () => new AbortController());
      const streams = callers.map((c) => run(w.watches.watch(reader, "op-1", { signal: c.signal })));
      await vi.advanceTimersByTimeAsync(0);
      expect(streams.map((s) => s.seen.length)).toEqual(callers.map(() => 1));
      expect(w.reads()).toBe(1);
      // One reader: one read per poll (a watcher each would read ten times as often).
      await vi.advanceTimersByTimeAsync(10 * pollMs);
      expect(w.reads()).toBe(11);
      for (const c of callers) c.abort();
      await vi.advanceTimersByTimeAsync(0);
      expect(await Promise.all(streams.map((s) => s.end))).toEqual(callers.map(() => "returned"));
      // No reader is left to read.
      await vi.advanceTimersByTimeAsync(4 * pollMs);
      expect(w.reads()).toBe(11);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a watch that comes after its operation's reader failed gets a new reader, while a watcher of the failed one still holds it", async () => {
    const w = world();
    const a = w.watches.watch(reader, "op-1", { signal: new AbortController().signal });
    expect((await a.next()).done).toBe(false);
    // A is not reading on (a slow client) when the reader's next read fails.
    w.failReads(1);
    w.notify("op-1");
    await until("the failed read", () => w.reads() === 2);
    const b = w.watches.watch(reader, "op-1", { signal: new AbortController().signal });
    expect((await b.next()).value?.operation.id).toBe("op-1");
    expect(w.reads()).toBe(3);
    await expect(a.next()).rejects.toThrow("the store is down");
    await b.return(undefined);
    expect(w.watches.active).toBe(0);
    expect(w.listeners.size).toBe(0);
  });

  it("watchers of different operations have a reader each", async () => {
    const w = world();
    const a = run(w.watches.watch(reader, "op-1", { signal: new AbortController().signal }));
    const b = run(w.watches.watch(reader, "op-2", { signal: new AbortController().signal }));
    await until("the first message", () => a.seen.length === 1);
    expect(await b.end).toBe("OPERATION_NOT_FOUND");
    expect(w.reads()).toBe(2);
    w.watches.stop();
    expect(await a.end).toBe("SERVER_SHUTTING_DOWN");
  });
});
