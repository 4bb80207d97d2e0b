import { Code, ConnectError } from "@connectrpc/connect";

/** Request body bytes held in memory across the process (server.max_buffered_bytes). */
export class BodyBudget {
  private used = 0;

  constructor(private readonly max: number) {}

  /**
   * A holder of bytes for one call: take() refuses past the bound, release() gives back all it
   * took, once; a released holder refuses every later take (the call is over).
   */
  holder(): BudgetHolder {
    let held = 0;
    let released = false;
    return {
      take: (n) => {
        if (released) throw new ConnectError("the call ended before its body", Code.Canceled);
        if (this.used + n > this.max) throw new ConnectError("the server holds too many request bodies: try again later", Code.ResourceExhausted);
        this.used += n;
        held += n;
      },
      release: () => {
        this.used -= held;
        held = 0;
        released = true;
      },
    };
  }
}

export interface BudgetHolder {
  take(n: number): void;
  release(): void;
}

/**
 * A body's bytes copied into one buffer that doubles as it fills, its capacity taken from the
 * call's budget: memory follows the bytes received, however small the chunks they came in.
 */
export class BodyBytes {
  private buffer: Buffer | undefined;
  private size = 0;

  constructor(
    private readonly held: BudgetHolder,
    /** The most the body may hold: the buffer never grows past it. */
    private readonly limit: number,
  ) {}

  get length(): number {
    return this.size;
  }

  append(chunk: Buffer): void {
    const needed = this.size + chunk.length;
    if (!this.buffer || needed > this.buffer.length) {
      const capacity = Math.max(needed, Math.min(Math.max((this.buffer?.length ?? 0) * 2, 1024), this.limit));
      this.held.take(capacity - (this.buffer?.length ?? 0));
      const next = Buffer.allocUnsafe(capacity);
      this.buffer?.copy(next, 0, 0, this.size);
      this.buffer = next;
    }
    chunk.copy(this.buffer, this.size);
    this.size = needed;
  }

  bytes(): Buffer {
    return this.buffer ? this.buffer.subarray(0, this.size) : Buffer.alloc(0);
  }
}
