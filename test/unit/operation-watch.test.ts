import { describe, expect, it } from "vitest";
import type { Principal } from "../../src/auth/principal.js";
import type { OperationProgress } from "../../src/sessions/end-all-sessions.js";
import { OperationWatches, type WatchSettings } from "../../src/sessions/operation-watch.js";
import { Failure } from "../../src/status/failure.js";
import type { WorkItem } from "../../src/store/operation-types.js";
import { until } from "../helpers/wait.js";

const reader: Principal = { name: "reader", permissions: new Set(["session.read"]) };

/** One operation in memory, changed by the test; the fan-out's notices sent by hand. */
function world(settings: Partial<WatchSettings> = {}) {
  const item: WorkItem = { operationId: "op-1", provider: "chat", providerUserId: "u", kind: "end", sessionId: "s1", state: "pending", attempts: 1, nextAttemptAt: new Date() };
  const progress: OperationProgress = {
    operation: { id: "op-1", userId: "u", reason: "", requestId: "r", principal: "admin", createdAt: new Date(0), updatedAt: new Date(0), expiresAt: new Date(1e13), done: false, initiatingEntity: "admin" as never },
    items: [item],
  };
  let reads = 0;
  const listeners = new Set<(id: string) => void>();
  const watches = new OperationWatches(
    {
      getOperation: async (id) => {
        reads++;
        return id === "op-1" ? structuredClone(progress) : undefined;
      },
    },
    { onProgress: (l) => (listeners.add(l), () => listeners.delete(l)) },
    { pollMs: 60_000, maxWatches: 10, maxWatchMs: 60_000, ...settings },
  );
  return { watches, progress, item, reads: () => reads, notify: (id: string) => listeners.forEach((l) => l(id)), listeners };
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
});
