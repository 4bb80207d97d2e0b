import { Code, ConnectError } from "@connectrpc/connect";

/** Request body bytes held in memory across the process (server.max_buffered_bytes). */
export class BodyBudget {
  private used = 0;

  constructor(private readonly max: number) {}

  /** A holder of bytes for one call: take() refuses past the bound, release() gives back all it took. */
  holder(): BudgetHolder {
    let held = 0;
    return {
      take: (n) => {
        if (this.used + n > this.max) throw new ConnectError("the server holds too many request bodies: try again later", Code.ResourceExhausted);
        this.used += n;
        held += n;
      },
      release: () => {
        this.used -= held;
        held = 0;
      },
    };
  }
}

export interface BudgetHolder {
  take(n: number): void;
  release(): void;
}
