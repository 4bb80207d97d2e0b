/** A place to run a task, waiting for a turn; one still waiting when `signal` aborts is dropped, rejected with its reason. */
export interface Places {
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

/** At most `limit` tasks at once; the others wait in order. */
export class Limiter implements Places {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Runs `task` when a place is free; one still waiting when `signal` aborts is dropped, rejected with its reason. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.running < this.limit) this.running++;
    // The task that ends hands its place over (no newcomer takes it meanwhile).
    else await this.turn(signal);
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  private turn(signal: AbortSignal | undefined): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      const waiting = this.waiting;
      const go = () => {
        signal?.removeEventListener("abort", quit);
        resolve();
      };
      function quit() {
        waiting.splice(waiting.indexOf(go), 1);
        reject(signal!.reason);
      }
      signal?.addEventListener("abort", quit, { once: true });
      waiting.push(go);
    });
  }
}

/** A Limiter per provider, of one size: the upstream calls of sign-out-everywhere's work and of ListUserSessions share it. */
export class ProviderLimiters {
  private readonly limiters = new Map<string, Limiter>();

  constructor(private readonly perProvider: number) {}

  for(provider: string): Limiter {
    let limiter = this.limiters.get(provider);
    if (!limiter) this.limiters.set(provider, (limiter = new Limiter(this.perProvider)));
    return limiter;
  }
}

/**
 * ListUserSessions' places at a provider: one of its own places (half the provider's, at least
 * one), then one of the places shared with sign-out-everywhere's work. Listings, which any
 * session.read caller may send, thus never hold more than half of a provider's places, and the
 * work of ending sessions always has the rest (with a single place, the two take it in turn).
 */
export class ListingLimiters {
  private readonly own: ProviderLimiters;

  constructor(
    private readonly shared: ProviderLimiters,
    perProvider: number,
  ) {
    this.own = new ProviderLimiters(Math.max(1, Math.floor(perProvider / 2)));
  }

  for(provider: string): Places {
    const own = this.own.for(provider);
    const shared = this.shared.for(provider);
    return { run: (task, signal) => own.run(() => shared.run(task, signal), signal) };
  }
}
