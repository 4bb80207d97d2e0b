import { Failure } from "../status/failure.js";
import type { OperationStore } from "../store/operation-types.js";
import type { OperationProgress } from "./end-all-sessions.js";

/**
 * One operation read for all of its watchers: at once, then every pollMs (the work of other
 * replicas) and whenever this process says it changed it, until it is done, cannot be read, or
 * is closed (its last watcher left). Each change of its progress bumps `version`.
 */
export class OperationReader {
  /** The progress as of the last change; undefined before the first read. */
  latest: OperationProgress | undefined;
  /** Bumped on each change of the progress: 1 after the first read. */
  version = 0;
  /** True once it reads no more: the operation is done, or `failure` says why not. */
  ended = false;
  /** Why reading stopped before the operation was done: it is not found, or the store failed. */
  failure: unknown;
  private key = "";
  private notified = false;
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly id: string,
    private readonly store: Pick<OperationStore, "getOperation">,
    private readonly pollMs: number,
  ) {}

  start(): void {
    void this.run();
  }

  /** This process changed the operation: read it now. */
  notify(): void {
    this.notified = true;
    this.wake?.();
  }

  close(): void {
    this.closed = true;
    this.wake?.();
  }

  /** Calls `listener` once, at the next change or the end; returns the way to stop waiting. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async run(): Promise<void> {
    try {
      while (!this.closed) {
        // A notice during the read is read again at once.
        this.notified = false;
        const read = await this.store.getOperation(this.id);
        if (!read) throw new Failure("NOT_FOUND", "OPERATION_NOT_FOUND", "operation not found");
        const key = progressKey(read);
        if (key !== this.key) {
          this.key = key;
          this.latest = read;
          this.version++;
          this.changed();
        }
        if (read.operation.done) break;
        if (!this.notified && !this.closed) await this.pause();
      }
    } catch (err) {
      this.failure = err;
    }
    this.ended = true;
    this.changed();
  }

  private pause(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.pollMs);
      const self = this;
      function done() {
        clearTimeout(timer);
        self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  private changed(): void {
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const listener of listeners) listener();
  }
}

/**
 * The operation's progress in a few counters, cheap to compare: done, its last change, and its
 * items by state, with their attempts, sessions ended and failures. When an item is tried next is
 * left out: a change of that alone is not a change of the progress. (An outcome recorded sets
 * updatedAt; a claim counts an attempt.)
 */
function progressKey({ operation, items }: OperationProgress): string {
  let pending = 0;
  let ended = 0;
  let alreadyEnded = 0;
  let attempts = 0;
  let sessionsEnded = 0;
  let errors = 0;
  for (const i of items) {
    if (i.state === "pending") pending++;
    else if (i.state === "ended") ended++;
    else if (i.state === "already_ended") alreadyEnded++;
    attempts += i.attempts;
    sessionsEnded += i.sessionsEnded ?? 0;
    if (i.lastError) errors++;
  }
  return [operation.done, operation.updatedAt.getTime(), items.length, pending, ended, alreadyEnded, attempts, sessionsEnded, errors].join(" ");
}
