import { Code, ConnectError } from "@connectrpc/connect";
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, ExponentialBackoff, IsolatedCircuitError, circuitBreaker, handleWhen, retry, wrap, type IPolicy } from "cockatiel";
import type { FieldViolation } from "../status/failure.js";
import { codeName } from "../status/code-names.js";
import { isRetryable, rowFor } from "../status/map.js";
import type { MappingTable } from "../status/table.js";
import { ProviderFailure, type ListUserSessionsCall, type Provider, type ProviderHealthReport, type TerminateCall, type TerminateResult, type UpstreamSession } from "./provider.js";

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

/** Observes every upstream attempt, for metrics. */
export type AttemptObserver = (provider: string, operation: string, seconds: number, outcome: string) => void;

/** Per-attempt timeout, retries with backoff and jitter, and a circuit breaker around a provider. */
export class ResilientProvider implements Provider {
  readonly name: string;
  readonly type: string;
  readonly verifiesTokens: boolean;
  readonly table: MappingTable;
  private readonly policy: IPolicy;
  private readonly breaker;
  private lastSuccess: Date | undefined;
  private lastError: { at: Date; code: string } | undefined;

  constructor(
    private readonly inner: Provider,
    private readonly settings: ResilienceSettings,
    private readonly observe: AttemptObserver = () => {},
  ) {
    this.name = inner.name;
    this.type = inner.type;
    this.verifiesTokens = inner.verifiesTokens;
    this.table = inner.table;
    const retryable = handleWhen((err) => err instanceof ProviderFailure && isRetryable(err, inner.table));
    this.breaker = circuitBreaker(retryable, {
      halfOpenAfter: settings.breakerHalfOpenAfterMs,
      breaker: new ConsecutiveBreaker(settings.breakerFailures),
    });
    const retries = retry(retryable, {
      maxAttempts: settings.maxAttempts - 1,
      backoff: new ExponentialBackoff({ initialDelay: settings.initialBackoffMs, maxDelay: settings.maxBackoffMs }),
    });
    this.policy = wrap(retries, this.breaker);
  }

  checkOptions(options: Record<string, string>): FieldViolation[] {
    return this.inner.checkOptions(options);
  }

  terminate(call: TerminateCall): Promise<TerminateResult> {
    return this.run("terminate", call.signal, call.deadline, (signal) => this.inner.terminate({ ...call, signal }));
  }

  listUserSessions(call: ListUserSessionsCall): Promise<UpstreamSession[]> {
    return this.run("list_user_sessions", call.signal, call.deadline, (signal) => this.inner.listUserSessions({ ...call, signal }));
  }

  health(): ProviderHealthReport {
    return {
      ...(this.lastSuccess && { lastSuccess: this.lastSuccess }),
      ...(this.lastError && { lastError: this.lastError }),
      breaker: BREAKER_STATE[this.breaker.state],
    };
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }

  private async run<T>(operation: string, callerSignal: AbortSignal, deadline: number | undefined, attempt: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      const result = await this.policy.execute(({ signal }) => this.attempt(operation, signal, callerSignal, deadline, attempt), callerSignal);
      this.lastSuccess = new Date();
      return result;
    } catch (err) {
      const failure = this.asFailure(err, callerSignal, deadline);
      this.lastError = { at: new Date(), code: codeName(rowFor(failure, this.table).code) };
      throw failure;
    }
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
      outcome = err instanceof ProviderFailure ? (err.answer.code ?? `status_${err.answer.status}`) : "error";
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
    return new ProviderFailure(this.name, this.type, { code, message });
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
