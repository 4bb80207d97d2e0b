/**
 * How tests wait: they poll for the state they need with `until`, never for a guessed time.
 * `sleep` is for the few waits whose subject is time itself (a lease, a breaker's half-open
 * delay, a window in which nothing may happen); each such call says why on its line.
 */

export interface UntilOptions {
  /** Give up after this long (default 15 s: generous for a loaded machine, well inside the test timeout). */
  timeoutMs?: number;
  /** Poll this often (default 10 ms). */
  everyMs?: number;
}

type Awaited<T> = Exclude<T, undefined | null | false>;

/**
 * Polls `check` until it returns something other than undefined, null or false, and returns that.
 * After `timeoutMs` it fails with a message naming `what` was awaited (a function: evaluated then,
 * so that it can show the state reached).
 */
export async function until<T>(what: string | (() => string), check: () => T | Promise<T>, opts: UntilOptions = {}): Promise<Awaited<T>> {
  const { timeoutMs = 15_000, everyMs = 10 } = opts;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value as Awaited<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "string" ? what : what()}`);
    await sleep(everyMs);
  }
}

/** Resolves after `ms`. Only where time passing is the subject of the test: say why where it is called. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once the clock has moved past the current millisecond (for things ordered by the millisecond they happen in). */
export async function nextMillisecond(): Promise<void> {
  const now = Date.now();
  await until("the next millisecond", () => Date.now() > now, { everyMs: 1 });
}
