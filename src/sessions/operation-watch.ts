import { setMaxListeners } from "node:events";
import { requirePermission, type Principal } from "../auth/principal.js";
import { Failure } from "../status/failure.js";
import type { OperationStore } from "../store/operation-types.js";
import type { OperationProgress } from "./end-all-sessions.js";
import type { CallContext } from "./end-session.js";

export interface WatchSettings {
  /** How often a watch reads the operation: the work of other replicas is seen this late at most. */
  pollMs: number;
  /** Watches at once in this process; past it, RESOURCE_EXHAUSTED. */
  maxWatches: number;
  /** Longest a watch lasts when the caller set no deadline (server.max_timeout_ms). */
  maxWatchMs: number;
}

/** Where this process says that it changed an operation's work (the fan-out), so that watches see it at once. */
export interface ProgressSource {
  /** Calls `listener` with the operation's id after each change; returns the way to stop. */
  onProgress(listener: (operationId: string) => void): () => void;
}

/**
 * Following operations as they progress: a watch yields the operation at once, then each time its
 * progress changes, and ends after yielding it done. It reads the operation when this process's
 * fan-out says it changed it, and every pollMs for the work of other replicas; it stops when the
 * caller cancels or its deadline passes (the signal), when the service stops, or after maxWatchMs
 * without a deadline. Watches are counted: at most maxWatches at once.
 */
export class OperationWatches {
  private watching = 0;
  private readonly stopping = new AbortController();

  constructor(
    private readonly store: Pick<OperationStore, "getOperation">,
    private readonly progress: ProgressSource,
    private readonly settings: WatchSettings,
  ) {
    // Every watch listens to it.
    setMaxListeners(0, this.stopping.signal);
  }

  /** Watches going on now. */
  get active(): number {
    return this.watching;
  }

  /** Ends every watch with UNAVAILABLE (the service is stopping), and refuses new ones. */
  stop(): void {
    this.stopping.abort();
  }

  async *watch(caller: Principal, id: string, call: Pick<CallContext, "signal" | "deadline">): AsyncGenerator<OperationProgress> {
    requirePermission(caller, "session.read");
    if (this.stopping.signal.aborted) throw shuttingDown();
    if (this.watching >= this.settings.maxWatches) {
      throw new Failure("RESOURCE_EXHAUSTED", "TOO_MANY_WATCHES", `this server follows at most ${this.settings.maxWatches} operations at once: retry later, or read them with GetOperation`, { retryable: true, retryAfterMs: 1000 });
    }
    this.watching++;
    let changed = false;
    let wake: (() => void) | undefined;
    const unsubscribe = this.progress.onProgress((operationId) => {
      if (operationId !== id) return;
      changed = true;
      wake?.();
    });
    const onStop = () => wake?.();
    const stopped = () => call.signal.aborted || this.stopping.signal.aborted;
    call.signal.addEventListener("abort", onStop);
    this.stopping.signal.addEventListener("abort", onStop);
    try {
      let last = id ? await this.store.getOperation(id) : undefined;
      if (!last) throw new Failure("NOT_FOUND", "OPERATION_NOT_FOUND", "operation not found");
      yield last;
      const endAt = call.deadline === undefined ? Date.now() + this.settings.maxWatchMs : Infinity;
      let shown = fingerprint(last);
      while (!last.operation.done) {
        if (!changed && !stopped()) {
          const waitMs = Math.max(0, Math.min(this.settings.pollMs, endAt - Date.now()));
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, waitMs);
            function done() {
              clearTimeout(timer);
              resolve();
            }
            wake = done;
          });
          wake = undefined;
        }
        changed = false;
        if (this.stopping.signal.aborted) throw shuttingDown();
        // The caller went away or its deadline passed: the edge reports it.
        if (call.signal.aborted) return;
        if (Date.now() >= endAt) {
          throw new Failure("DEADLINE_EXCEEDED", "WATCH_TIME_LIMIT", `a watch without a deadline lasts at most ${this.settings.maxWatchMs} ms (server.max_timeout_ms): watch again`, { retryable: true, retryAfterMs: 0 });
        }
        const next = await this.store.getOperation(id);
        if (!next) throw new Failure("NOT_FOUND", "OPERATION_NOT_FOUND", "operation not found");
        const print = fingerprint(next);
        if (print === shown) continue;
        last = next;
        shown = print;
        yield last;
      }
    } finally {
      this.watching--;
      unsubscribe();
      call.signal.removeEventListener("abort", onStop);
      this.stopping.signal.removeEventListener("abort", onStop);
    }
  }
}

function shuttingDown(): Failure {
  return new Failure("UNAVAILABLE", "SERVER_SHUTTING_DOWN", "the server is shutting down: watch again (another replica, or this one once restarted, answers)", { retryable: true, retryAfterMs: 0 });
}

/** What a caller sees of the operation: a change of anything else (when an item is tried next) is not a change of its progress. */
function fingerprint(p: OperationProgress): string {
  return JSON.stringify([p.operation, p.items.map(({ nextAttemptAt: _, ...shown }) => shown)]);
}
