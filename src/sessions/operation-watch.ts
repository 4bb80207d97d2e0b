import { setMaxListeners } from "node:events";
import { requirePermission, type Principal } from "../auth/principal.js";
import { Failure } from "../status/failure.js";
import type { OperationStore } from "../store/operation-types.js";
import type { OperationProgress } from "./end-all-sessions.js";
import type { CallContext } from "./end-session.js";
import { OperationReader } from "./operation-reader.js";

export interface WatchSettings {
  /** How often an operation watched is read: the work of other replicas is seen this late at most. */
  pollMs: number;
  /** Watches at once in this process; past it, RESOURCE_EXHAUSTED. */
  maxWatches: number;
  /** Watches at once of one caller (principal) in this process; past it, RESOURCE_EXHAUSTED. */
  maxWatchesPerCaller: number;
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
 * progress changes, and ends after yielding it done. All watches of one operation share one
 * reader (src/sessions/operation-reader.ts), started by the first and closed when the last
 * leaves; this process's fan-out wakes it. A watch stops when the caller cancels or its deadline
 * passes (the signal), when the service stops, or after maxWatchMs without a deadline. Watches
 * are counted: at most maxWatches at once, and maxWatchesPerCaller of one caller.
 */
export class OperationWatches {
  private watching = 0;
  private readonly byCaller = new Map<string, number>();
  private readonly readers = new Map<string, { reader: OperationReader; watchers: number }>();
  private unsubscribe: (() => void) | undefined;
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
    this.admit(caller.name);
    let reader: OperationReader | undefined;
    try {
      if (!id) throw new Failure("NOT_FOUND", "OPERATION_NOT_FOUND", "operation not found");
      reader = this.join(id);
      const endAt = call.deadline === undefined ? Date.now() + this.settings.maxWatchMs : Infinity;
      let shown = 0;
      for (;;) {
        if (this.stopping.signal.aborted) throw shuttingDown();
        // The caller went away or its deadline passed: the edge reports it.
        if (call.signal.aborted) return;
        if (Date.now() >= endAt) {
          throw new Failure("DEADLINE_EXCEEDED", "WATCH_TIME_LIMIT", `a watch without a deadline lasts at most ${this.settings.maxWatchMs} ms (server.max_timeout_ms): watch again`, { retryable: true, retryAfterMs: 0 });
        }
        if (reader.version > shown) {
          // The latest progress: a watcher slower than the changes skips those it missed.
          const latest = reader.latest!;
          shown = reader.version;
          yield latest;
          if (latest.operation.done) return;
        } else if (reader.ended) {
          throw reader.failure;
        } else {
          await this.nextChange(reader, endAt, call.signal);
        }
      }
    } finally {
      if (reader) this.leave(id, reader);
      this.release(caller.name);
    }
  }

  /** Counts the caller's watch, or refuses it past either limit. */
  private admit(caller: string): void {
    if (this.watching >= this.settings.maxWatches) {
      throw new Failure("RESOURCE_EXHAUSTED", "TOO_MANY_WATCHES", `this server follows at most ${this.settings.maxWatches} operations at once: retry later, or read them with GetOperation`, { retryable: true, retryAfterMs: 1000 });
    }
    const mine = this.byCaller.get(caller) ?? 0;
    if (mine >= this.settings.maxWatchesPerCaller) {
      throw new Failure("RESOURCE_EXHAUSTED", "TOO_MANY_WATCHES", `each caller follows at most ${this.settings.maxWatchesPerCaller} operations at once on this server (operations.max_watches_per_caller): end one of your watches, or read operations with GetOperation`, { retryable: true, retryAfterMs: 1000 });
    }
    this.watching++;
    this.byCaller.set(caller, mine + 1);
  }

  private release(caller: string): void {
    this.watching--;
    const left = this.byCaller.get(caller)! - 1;
    if (left === 0) this.byCaller.delete(caller);
    else this.byCaller.set(caller, left);
  }

  /**
   * The operation's reader, started for its first watcher, and again for a watcher that comes after
   * it failed (a store error may pass); the fan-out's notices wake the readers while there are any.
   */
  private join(id: string): OperationReader {
    let shared = this.readers.get(id);
    if (!shared || (shared.reader.ended && shared.reader.failure !== undefined)) {
      shared = { reader: new OperationReader(id, this.store, this.settings.pollMs), watchers: 0 };
      this.readers.set(id, shared);
      this.unsubscribe ??= this.progress.onProgress((operationId) => this.readers.get(operationId)?.reader.notify());
      shared.reader.start();
    }
    shared.watchers++;
    return shared.reader;
  }

  /** The last watcher of a reader closes it (a failed one may have been replaced for the operation meanwhile). */
  private leave(id: string, reader: OperationReader): void {
    const shared = this.readers.get(id);
    if (shared?.reader !== reader) return reader.close();
    if (--shared.watchers > 0) return;
    shared.reader.close();
    this.readers.delete(id);
    if (this.readers.size > 0) return;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Resolves at the reader's next change or end, the caller's abort, the service's stop, or endAt. */
  private nextChange(reader: OperationReader, endAt: number, signal: AbortSignal): Promise<void> {
    const stopping = this.stopping.signal;
    return new Promise<void>((resolve) => {
      const timer = endAt === Infinity ? undefined : setTimeout(done, Math.max(0, endAt - Date.now()));
      const stopWaiting = reader.onChange(done);
      signal.addEventListener("abort", done);
      stopping.addEventListener("abort", done);
      function done() {
        clearTimeout(timer);
        stopWaiting();
        signal.removeEventListener("abort", done);
        stopping.removeEventListener("abort", done);
        resolve();
      }
    });
  }
}

function shuttingDown(): Failure {
  return new Failure("UNAVAILABLE", "SERVER_SHUTTING_DOWN", "the server is shutting down: watch again (another replica, or this one once restarted, answers)", { retryable: true, retryAfterMs: 0 });
}
