import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Principal } from "../auth/principal.js";
import type { Provider } from "../providers/provider.js";
import { Failure, SERVICE_DOMAIN } from "../status/failure.js";
import { ALL_SESSIONS, type NewOperation, type OperationRecord, type OperationStore, type WorkClaim, type WorkItem, type WorkOutcome } from "../store/operation-types.js";
import type { EndSession } from "./end-session.js";
import type { ProviderLimiters } from "./limiter.js";
import { workRequestId } from "./request-id.js";

export interface FanOutSettings {
  /** How long a claim on work holds before another worker (replica) may take it over. */
  leaseMs: number;
  /** How often the background worker looks for due work. */
  pollMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  /** Longest time one upstream call of background work may take. */
  callTimeoutMs: number;
}

/**
 * Sign out everywhere: an operation's work (list the user's sessions in each provider, end
 * each one) is recorded before any upstream call, run at once, and what fails with a
 * retryable status is retried in the background until it succeeds or the operation expires.
 * Any worker of any replica may take over work whose claim has lapsed.
 */
export class FanOut {
  readonly workerId = `worker-${randomUUID()}`;
  /** When each claim was taken (ms since the epoch). */
  private readonly claimedAt = new WeakMap<WorkClaim, number>();
  /** The work of each operation that this process runs now, whoever claimed it (a call or the background worker). */
  private readonly running = new Map<string, Set<Promise<void>>>();
  /** The items this process works on now. */
  private readonly inFlight = new Set<string>();
  private readonly stopping = new AbortController();
  /** Told of each change this process makes to an operation's work (watches of it). */
  private readonly progressListeners = new Set<(operationId: string) => void>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly store: OperationStore,
    private readonly providers: ReadonlyMap<string, Provider>,
    /** Each provider's budget of calls at once, shared with ListUserSessions. */
    private readonly limiters: ProviderLimiters,
    private readonly endSession: EndSession,
    /** The service's key of workRequestId (the same on every replica). */
    private readonly workKey: Buffer,
    private readonly settings: FanOutSettings,
    private readonly log: Logger,
  ) {}

  /** Records the operation (or finds it by request id) and works on it until it is done or `until`. */
  async run(op: NewOperation, until: number): Promise<OperationRecord> {
    const { operation } = await this.store.createOperation(op);
    await Promise.race([this.settle(operation.id), sleep(Math.max(0, until - Date.now()))]);
    return operation;
  }

  /**
   * Drains the operation, and waits for its work that the background worker of this process took
   * meanwhile (it may claim a new operation's items first), until none is due or running here.
   */
  private async settle(operationId: string): Promise<void> {
    for (;;) {
      await this.drain(operationId);
      const running = this.running.get(operationId);
      if (!running?.size) return;
      await Promise.allSettled(running);
    }
  }

  /** Calls `listener` with the operation's id after each change this process records to its work; returns the way to stop. */
  onProgress(listener: (operationId: string) => void): () => void {
    this.progressListeners.add(listener);
    return () => this.progressListeners.delete(listener);
  }

  private progressed(operationId: string): void {
    for (const listener of this.progressListeners) listener(operationId);
  }

  /** Starts the background worker: at once (work left by a stopped process), then every pollMs. */
  startBackground(): void {
    const tick = () => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        if (!this.stopping.signal.aborted) this.timer = setTimeout(tick, this.settings.pollMs);
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    await this.polling;
  }

  private async poll(): Promise<void> {
    try {
      const expired = await this.store.expireWork(new Date());
      if (expired > 0) this.log.warn({ operations: expired }, "operations expired with work left");
      const claims = await this.claim(100);
      await Promise.all(claims.map((c) => this.process(c)));
    } catch (err) {
      this.log.error({ err }, "background work failed");
    }
  }

  /** Claims and runs the operation's due work until none is left (work waiting for a retry is left to the background). */
  private async drain(operationId: string): Promise<void> {
    while (!this.stopping.signal.aborted) {
      const claims = await this.claim(1000, operationId);
      if (claims.length === 0) return;
      await Promise.all(claims.map((c) => this.process(c)));
    }
  }

  private process(claim: WorkClaim): Promise<void> {
    const id = claim.item.operationId;
    // A claim that lapsed while this process still works on the item (a slow call, a wait for the
    // limiter) may be taken again, here too: the item is not started twice.
    const key = JSON.stringify([id, claim.item.provider, claim.item.kind, claim.item.sessionId]);
    if (this.inFlight.has(key)) return Promise.resolve();
    this.inFlight.add(key);
    const running = this.running.get(id) ?? new Set<Promise<void>>();
    this.running.set(id, running);
    const work: Promise<void> = this.processClaim(claim).finally(() => {
      this.inFlight.delete(key);
      running.delete(work);
      if (running.size === 0 && this.running.get(id) === running) this.running.delete(id);
    });
    running.add(work);
    return work;
  }

  /** Claims due work for this worker, noting when (the lease runs from a moment after). */
  private async claim(limit: number, operationId?: string): Promise<WorkClaim[]> {
    const claimedAt = Date.now();
    const claims = await this.store.claimWork(this.workerId, this.settings.leaseMs, limit, operationId);
    for (const c of claims) this.claimedAt.set(c, claimedAt);
    return claims;
  }

  private async processClaim(claim: WorkClaim): Promise<void> {
    const provider = this.providers.get(claim.item.provider);
    const ran = await this.limiters.for(claim.item.provider).run(async () => {
      // Claims are taken in batches and wait here for their turn. Once the lease lapses another worker
      // (another replica) may take the item: an attempt starts only while enough of the lease is left
      // for it to end first (its call timeout, or half the lease); the rest is left to a later claim.
      const leaseLeft = (this.claimedAt.get(claim) ?? 0) + this.settings.leaseMs - Date.now();
      if (leaseLeft < Math.min(this.settings.callTimeoutMs, this.settings.leaseMs / 2)) return false;
      const outcome = provider ? await this.attempt(provider, claim) : gone(claim.item.provider);
      if (outcome) await this.store.completeWork(claim.item, outcome);
      // A listing was recorded by the attempt itself, an outcome just above.
      if (outcome || claim.item.kind === "list") this.progressed(claim.item.operationId);
      return true;
    });
    // A listing added this provider's sessions: end them now, without waiting for the other providers.
    if (ran && claim.item.kind === "list") await this.drain(claim.item.operationId);
  }

  /** One attempt; undefined when the outcome was already recorded (a listing, with its sessions). */
  private async attempt(provider: Provider, { item, operation }: WorkClaim): Promise<WorkOutcome | undefined> {
    const signal = AbortSignal.any([this.stopping.signal, AbortSignal.timeout(this.settings.callTimeoutMs)]);
    try {
      if (item.kind === "list" && provider.endsAllOfUser) {
        // One user-wide call ends them all: one work item, no listing here (the provider lists, when it can, to count them).
        await this.store.completeListing(item.operationId, item.provider, [ALL_SESSIONS]);
        return undefined;
      }
      if (item.kind === "list") {
        const { sessions, complete } = await provider.listUserSessions({ userId: item.providerUserId, signal, deadline: Date.now() + this.settings.callTimeoutMs });
        // The sessions listed are ended as ever; a listing that stopped short fails, so that the operation shows the user may have more there.
        await this.store.completeListing(item.operationId, item.provider, sessions.filter((s) => s.active).map((s) => s.sessionId), complete ? undefined : listingIncomplete(provider.name, sessions.length));
        return undefined;
      }
      // The call's operationId puts its request id in the operation's scope: nothing a caller recorded is replayed to it.
      const res = await this.endSession.run(principalOf(operation), {
        sessionId: item.sessionId,
        provider: item.provider,
        userId: item.providerUserId,
        reason: operation.reason,
        requestId: workRequestId(this.workKey, item.operationId, item.provider, item.sessionId),
        ...(item.sessionId === ALL_SESSIONS && { allOfUser: true }),
      }, { signal, deadline: Date.now() + this.settings.callTimeoutMs, operationId: item.operationId, initiatingEntity: operation.initiatingEntity });
      return { state: res.alreadyTerminated ? "already_ended" : "ended", ...(res.sessionsEnded !== undefined && { sessionsEnded: res.sessionsEnded }) };
    } catch (err) {
      // Stopping: the attempt was cut short, not refused; the work stays pending for the next start (or another replica).
      if (this.stopping.signal.aborted) return undefined;
      const failure = err instanceof Failure ? err : new Failure("UNKNOWN", "", err instanceof Error ? err.message : String(err));
      // The session was listed as active: an upstream that no longer knows it says it is over
      // (the user logged out meanwhile, or an earlier attempt ended it and its answer was lost).
      if (item.kind === "end" && failure.reason === "SESSION_NOT_FOUND") return { state: "already_ended" };
      // operations.call_timeout_ms ran out: the provider reports it as the caller's deadline or a cancel, which no
      // retry mends for a caller; here there is no caller, so it is an upstream timeout like any other.
      if (signal.aborted || failure.reason === "CALLER_DEADLINE_EXCEEDED") {
        const message = `${provider.name}: no answer within operations.call_timeout_ms (${this.settings.callTimeoutMs} ms)`;
        return this.failed(item, new Failure("DEADLINE_EXCEEDED", "UPSTREAM_TIMEOUT", message, { domain: provider.name, retryable: true }));
      }
      return this.failed(item, failure);
    }
  }

  /** A failure a retry can help stays pending, with backoff; any other is final. */
  private failed(item: WorkItem, failure: Failure): WorkOutcome {
    const lastError = { code: failure.code, reason: failure.reason, message: failure.message };
    if (!failure.retryable) return { state: "failed", lastError };
    const delay = Math.min(this.settings.retryMaxMs, this.settings.retryInitialMs * 2 ** Math.min(item.attempts - 1, 20));
    // Full jitter, so that replicas and operations do not retry in step; never sooner than the upstream asked (its Retry-After or rate-limit reset).
    const wait = Math.max(delay / 2 + Math.random() * (delay / 2), failure.retryAfterMs ?? 0);
    return { state: "pending", lastError, nextAttemptAt: new Date(Date.now() + wait) };
  }
}

/** The operation's principal, acting with session.delete as TerminateUser required. */
function principalOf(op: OperationRecord): Principal {
  return { name: op.principal, permissions: new Set(["session.delete"]) };
}

/** Work for a provider no longer configured cannot be done. */
function gone(provider: string): WorkOutcome {
  return { state: "failed", lastError: { code: "FAILED_PRECONDITION", reason: "PROVIDER_NOT_CONFIGURED", message: `provider "${provider}" is no longer configured (${SERVICE_DOMAIN})` } };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The outcome of a listing that stopped at the provider's own limit before the user's last session. */
function listingIncomplete(provider: string, listed: number): WorkOutcome {
  const message = `${provider} stopped at its own limit after listing ${listed} sessions: the active ones among them are ended, and the user may have more there; sign out everywhere again once these have ended`;
  return { state: "failed", lastError: { code: "RESOURCE_EXHAUSTED", reason: "LISTING_INCOMPLETE", message } };
}
