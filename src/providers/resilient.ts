import { Code, ConnectError } from "@connectrpc/connect";
import { setTimeout as sleep } from "node:timers/promises";
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, ExponentialBackoff, IsolatedCircuitError, circuitBreaker, handleWhen, type IBackoff } from "cockatiel";
import { ProviderFailure } from "../status/provider-failure.js";
import type { AttemptObserver } from "./attempt-observer.js";
import { WatchedProvider, type BreakerState } from "./health.js";
import type { ListUserSessionsCall, Provider, SessionListing, TerminateCall, TerminateResult } from "./provider.js";

export interface ResilienceSettings {
  /** Longest time one upstream attempt may take; never longer than the caller's deadline. */
  timeoutMs: number;
  /** Attempts in all, the first included, for answers the mapping table marks retryable. */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Consecutive failed calls that open the breaker. */
  breakerFailures: number;
  /** How long the open breaker fails fast before it lets one probe call through. */
  breakerHalfOpenAfterMs: number;
}

/** The least time left for an attempt after a retry's wait: with less, the failure is answered at once. */
const MIN_ATTEMPT_MS = 100;

/**
 * Per-attempt timeout, retries with backoff and jitter, and a circuit breaker around an upstream
 * provider; its health adds the last failure and the breaker's state. What is retried and what
 * trips the breaker is the row each failure was classified by (ProviderFailure.row).
 */
export class ResilientProvider extends WatchedProvider {
  private readonly breaker;
  private readonly backoff: ExponentialBackoff<unknown>;

  constructor(
    inner: Provider,
    private readonly settings: ResilienceSettings,
    private readonly observe: AttemptObserver = () => {},
  ) {
    super(inner);
    const retryable = handleWhen((err) => err instanceof ProviderFailure && err.retryable);
    this.breaker = circuitBreaker(retryable, {
      halfOpenAfter: settings.breakerHalfOpenAfterMs,
      breaker: new ConsecutiveBreaker(settings.breakerFailures),
    });
    this.backoff = new ExponentialBackoff({ initialDelay: settings.initialBackoffMs, maxDelay: settings.maxBackoffMs });
  }

  override terminate(call: TerminateCall): Promise<TerminateResult> {
    return this.run("terminate", call.signal, call.deadline, (signal) => this.inner.terminate({ ...call, signal }));
  }

  override listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    return this.run("list_user_sessions", call.signal, call.deadline, (signal) => this.inner.listUserSessions({ ...call, signal }));
  }

  protected override breakerState(): BreakerState {
    return BREAKER_STATE[this.breaker.state];
  }

  private async run<T>(operation: string, callerSignal: AbortSignal, deadline: number | undefined, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      const once = () => this.breaker.execute(({ signal }) => this.attempt(operation, signal, callerSignal, deadline, attempt), callerSignal);
      return this.succeeded(await this.withRetries(once, callerSignal, deadline));
    } catch (err) {
      const failure = this.asFailure(err, callerSignal, deadline);
      this.lastError = { at: Date.now(), code: failure.code };
      throw failure;
    }
  }

  /**
   * Attempts until one succeeds or a retry cannot help: max_attempts made, a failure its row does
   * not mark retryable, or a wait the call cannot afford. The wait is the backoff, and at least the
   * upstream's Retry-After; an upstream that asks for longer than max_backoff_ms, or a wait that
   * would end past the caller's deadline, is answered at once (its RetryInfo says when to retry).
   */
  private async withRetries<T>(once: () => Promise<T>, callerSignal: AbortSignal, deadline: number | undefined): Promise<T> {
    let backoff: IBackoff<unknown> | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return await once();
      } catch (err) {
        if (attempt >= this.settings.maxAttempts || !(err instanceof ProviderFailure) || !err.retryable) throw err;
        backoff = (backoff ?? this.backoff).next(undefined);
        const wait = this.retryWait(err, backoff.duration, deadline);
        if (wait === undefined) throw err;
        await sleep(wait, undefined, { signal: callerSignal });
      }
    }
  }

  /** The wait before the next attempt; undefined when the call cannot afford it. */
  private retryWait(failure: ProviderFailure, backoffMs: number, deadline: number | undefined): number | undefined {
    const asked = failure.answer.retryAfterMs;
    if (asked !== undefined && asked > this.settings.maxBackoffMs) return undefined;
    const wait = Math.max(backoffMs, asked ?? 0);
    // The retry itself needs time too: one that could only start as the deadline comes is not made.
    return deadline !== undefined && Date.now() + wait + MIN_ATTEMPT_MS >= deadline ? undefined : wait;
  }

  /** One upstream attempt, aborted with a ProviderFailure that says why: timeout, deadline or cancel. */
  private async attempt<T>(operation: string, signal: AbortSignal, callerSignal: AbortSignal, deadline: number | undefined, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const remaining = deadline === undefined ? Infinity : deadline - Date.now();
    const byDeadline = remaining <= this.settings.timeoutMs;
    const controller = new AbortController();
    const abort = (code: string, message: string) => controller.abort(this.failure(code, message));
    if (remaining <= 0) throw this.failure("transport.deadline", "the caller's deadline has passed");
    const timer = setTimeout(
      () => (byDeadline ? abort("transport.deadline", "the caller's deadline passed") : abort("transport.timeout", `no answer within ${this.settings.timeoutMs} ms`)),
      Math.min(remaining, this.settings.timeoutMs),
    );
    const onCancel = () =>
      callerDeadlinePassed(callerSignal, deadline) ? abort("transport.deadline", "the caller's deadline passed") : abort("transport.canceled", "the caller cancelled the call");
    if (signal.aborted) onCancel();
    signal.addEventListener("abort", onCancel, { once: true });
    const start = process.hrtime.bigint();
    let outcome = "ok";
    try {
      // The attempt settles when the upstream answers or when the abort reason is raised, whichever is first.
      return await Promise.race([fn(controller.signal), rejectOnAbort(controller.signal)]);
    } catch (err) {
      outcome = err instanceof ProviderFailure ? (err.answer.code ?? `status_${err.answer.httpStatus ?? err.answer.grpcCode}`) : "error";
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onCancel);
      this.observe(this.name, operation, Number(process.hrtime.bigint() - start) / 1e9, outcome);
    }
  }

  private asFailure(err: unknown, callerSignal: AbortSignal, deadline: number | undefined): ProviderFailure {
    if (err instanceof ProviderFailure) return err;
    if (err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError) return this.failure("transport.breaker_open", "failing fast while the upstream is down");
    if (callerDeadlinePassed(callerSignal, deadline)) return this.failure("transport.deadline", "the caller's deadline passed");
    if (callerSignal.aborted) return this.failure("transport.canceled", "the caller cancelled the call");
    throw err;
  }

  private failure(code: string, message: string): ProviderFailure {
    return new ProviderFailure(this.name, { code, message }, this.table);
  }
}

/** Whether the caller's deadline has passed: the server aborts the call's signal with DEADLINE_EXCEEDED a moment before `deadline`. */
function callerDeadlinePassed(callerSignal: AbortSignal, deadline: number | undefined): boolean {
  const reason: unknown = callerSignal.reason;
  return (reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) || (deadline !== undefined && Date.now() >= deadline);
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

const BREAKER_STATE = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half_open",
  [CircuitState.Isolated]: "isolated",
} as const;
