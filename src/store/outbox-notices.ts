import type { OperationRecord } from "./operation-types.js";
import type { ConfiguredSubscriber, SessionRevokedNotice } from "./outbox-types.js";
import type { AuditEvent } from "./store.js";

/** True when the audit event is a session's first end that is to be announced. */
export function announces(e: AuditEvent): e is AuditEvent & Required<Pick<AuditEvent, "announce">> {
  return e.announce !== undefined && e.code === "OK" && !e.alreadyTerminated;
}

/** The notice of an announced end, from its audit event. */
export function endedNotice(e: AuditEvent & Required<Pick<AuditEvent, "announce">>): SessionRevokedNotice {
  return {
    kind: "session-revoked",
    userId: e.announce.userId,
    // A user-wide end names the user alone: no one session was ended.
    ...(!e.announce.allOfUser && { sessionId: e.sessionId }),
    provider: e.provider,
    ...(e.details?.resourceOwner && { tenant: e.details.resourceOwner }),
    endedAt: (e.details?.changeDate ?? e.time).getTime(),
    initiatingEntity: e.announce.initiatingEntity,
    ...(e.reason && { reason: e.reason }),
    txn: e.operationId ?? e.requestId,
  };
}

/** The notice that an operation is done: the user as a whole, its txn the operation's id. */
export function operationNotice(op: OperationRecord, doneAt: Date): SessionRevokedNotice {
  return {
    kind: "session-revoked",
    userId: op.userId,
    endedAt: doneAt.getTime(),
    initiatingEntity: op.initiatingEntity,
    ...(op.reason && { reason: op.reason }),
    txn: op.id,
  };
}

/**
 * The configured receivers, and the listeners told of queued deliveries: one per store, shared by
 * the parts that write notices.
 */
export class OutboxSubscribers {
  configured: readonly ConfiguredSubscriber[] = [];
  private readonly listeners: ((subscribers: readonly string[]) => void)[] = [];

  onQueued(listener: (subscribers: readonly string[]) => void): void {
    this.listeners.push(listener);
  }

  /** Called after the commit that queued deliveries for these subscribers. */
  queued(subscribers: readonly string[]): void {
    if (subscribers.length === 0) return;
    for (const listener of this.listeners) listener(subscribers);
  }
}
