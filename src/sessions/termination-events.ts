import type { AuditEvent, ChangeDetails } from "../store/store.js";
import type { Failure } from "../status/failure.js";

/**
 * What every termination attempt carries, as the audit trail keeps it: who asked (the caller, or
 * the principal of the operation whose work it is), why, for which user and session, where, when,
 * with which request id, the sign-out-everywhere operation it belongs to, if any, and, once the
 * caller is authorized, who started it (for the end's announcement).
 */
export type TerminationFacts = Pick<AuditEvent, "time" | "principal" | "provider" | "sessionId" | "userId" | "requestId" | "reason" | "operationId" | "announce">;

/** The domain event "a session was ended": published once the end is durable (upstream confirmed, or committed here). */
export interface SessionEnded extends TerminationFacts {
  /** True when the session had already ended before this call. */
  alreadyEnded: boolean;
  details: ChangeDetails;
  /** True when the provider wrote the audit row in the same commit as the end (the embedded store). */
  recorded: boolean;
}

/** A termination that did not happen: the failure recorded, and the one the caller was answered. */
export interface TerminationFailed extends TerminationFacts {
  failure: Failure;
  /** What the caller got: the failure itself, or a refusal that tells nothing about the session. */
  answered: Failure;
}

type Subscriber<E> = (event: E) => void | Promise<void>;

/**
 * The subscribers of termination outcomes, registered in main.ts (the audit trail, metrics; outbound
 * notifications next). Publishing waits for each in turn, so the call is answered once they are done.
 */
export class TerminationEvents {
  private readonly ended: Subscriber<SessionEnded>[] = [];
  private readonly failed: Subscriber<TerminationFailed>[] = [];

  onEnded(subscriber: Subscriber<SessionEnded>): this {
    this.ended.push(subscriber);
    return this;
  }

  onFailed(subscriber: Subscriber<TerminationFailed>): this {
    this.failed.push(subscriber);
    return this;
  }

  publishEnded(event: SessionEnded): Promise<void> {
    return publish(this.ended, event);
  }

  publishFailed(event: TerminationFailed): Promise<void> {
    return publish(this.failed, event);
  }
}

async function publish<E>(subscribers: readonly Subscriber<E>[], event: E): Promise<void> {
  for (const subscriber of subscribers) {
    // Synchronous subscribers (metrics) cost no extra turn.
    const pending = subscriber(event);
    if (pending) await pending;
  }
}
