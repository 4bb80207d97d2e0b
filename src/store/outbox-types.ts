/**
 * The outbox: what is announced of ended sessions, to whom, and how each delivery went. A
 * termination's notice is written in the same transaction as the termination (its audit row);
 * the delivery worker (src/notify/) sends it. SSF streams (SSF 1.0 §8) live here too, since the
 * outbox addresses them.
 */

/** Who started an end, as CAEP's `initiating_entity` says it. */
export type InitiatingEntity = "admin" | "user" | "policy" | "system";

/** One ended session, or (no sessionId) a user all of whose sessions a TerminateUser operation ended. */
export interface SessionRevokedNotice {
  kind: "session-revoked";
  userId: string;
  /** Absent: the user as a whole (a TerminateUser operation is done with every session ended). */
  sessionId?: string;
  provider?: string;
  /** The session's resource owner, when there is one (SSF complex subject `tenant`). */
  tenant?: string;
  /** When it ended (ms since the epoch). */
  endedAt: number;
  initiatingEntity: InitiatingEntity;
  /** The caller's reason; absent when none was given. */
  reason?: string;
  /** The request id, or the operation id in a fan-out (SET `txn`). */
  txn: string;
}

/** SSF 1.0 §8.1.4: a verification event asked for by a stream's receiver. */
export interface VerificationNotice {
  kind: "verification";
  state?: string;
}

export type Notice = SessionRevokedNotice | VerificationNotice;

/** A subscriber's id in the outbox: a configured receiver, or an SSF stream. */
export const subscriberId = {
  receiver: (name: string) => `receiver:${name}`,
  stream: (streamId: string) => `stream:${streamId}`,
};

/** The stream id of a stream's subscriber id; undefined for a configured receiver. */
export function streamIdOf(subscriber: string): string | undefined {
  const prefix = subscriberId.stream("");
  return subscriber.startsWith(prefix) ? subscriber.slice(prefix.length) : undefined;
}

export const DELIVERY_STATES = ["pending", "delivered", "failed", "expired", "dropped"] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** How long a stream's deliveries are tried (configured receivers have their own max_age_ms). */
export const STREAM_MAX_AGE_MS = 24 * 3_600_000;

/** Why the last attempt did not deliver: the HTTP status (absent: no answer), RFC 8935's `err`, words. */
export interface DeliveryError {
  status?: number;
  err?: string;
  message: string;
}

/** One notice to one subscriber. `jti` is the SET's `jti` and the webhook's `webhook-id`, the same on every retry. */
export interface Delivery {
  id: bigint;
  subscriber: string;
  jti: string;
  notice: Notice;
  state: DeliveryState;
  attempts: number;
  createdAt: Date;
  updatedAt: Date;
  nextAttemptAt: Date;
  /** Past it, a pending delivery is given up (`expired`). */
  expiresAt: Date;
  lastError?: DeliveryError;
}

/** What became of one attempt. */
export interface DeliveryOutcome {
  state: DeliveryState;
  lastError?: DeliveryError;
  /** For a pending (retrying) delivery: when to try again. */
  nextAttemptAt?: Date;
}

export interface DeliveryQuery {
  subscriber?: string;
  state?: DeliveryState;
  limit: number;
  /** Keyset cursor: only deliveries with an id below this one. Newest first. */
  beforeId?: bigint;
}

/** The configured receivers the outbox addresses besides streams: their ids and how long their deliveries are tried. */
export interface ConfiguredSubscriber {
  id: string;
  maxAgeMs: number;
}

/** What the delivery worker uses of the outbox. */
export type DeliveryStore = Pick<OutboxStore, "claimDeliveries" | "completeDelivery" | "expireDeliveries" | "pendingCounts" | "dueSubscribers">;

export interface OutboxStore {
  /** The configured receivers every session-revoked notice goes to (besides streams that asked for it). */
  setConfiguredSubscribers(subscribers: readonly ConfiguredSubscriber[]): void;
  /**
   * Tells the listener, after each commit that queued deliveries, which subscribers got some, so the
   * delivery worker sends them at once rather than at its next poll (SQLite: on the turn after the
   * commit; a claim made then is answered once that commit is durable).
   */
  onQueued(listener: (subscribers: readonly string[]) => void): void;
  /** Queues a notice for one subscriber (a stream's verification event), in its own transaction. */
  enqueue(notice: Notice, subscriber: string, maxAgeMs: number): Promise<void>;
  /**
   * Claims up to `limit` due pending deliveries of one subscriber, not past their expiry, for `worker`
   * until now + leaseMs (the database's clock on PostgreSQL), skipping those another live worker
   * holds and every one of a stream that is not enabled; counts the attempt. Oldest due first.
   */
  claimDeliveries(subscriber: string, worker: string, leaseMs: number, limit: number): Promise<Delivery[]>;
  /**
   * Records an attempt's outcome and releases the claim, if `worker` still holds it: a delivery
   * no longer pending (dropped meanwhile), or claimed since by another worker, is left as it is.
   */
  completeDelivery(id: bigint, worker: string, outcome: DeliveryOutcome): Promise<void>;
  /**
   * Deletes up to `limit` finished deliveries (not pending) last changed before `cutoff`, then the
   * notices left with none (audit retention); answers how many rows went.
   */
  deleteFinishedBefore(cutoff: Date, limit: number): Promise<number>;
  /** Marks pending deliveries past their expiry `expired` (not those claimed and still in flight); returns how many. */
  expireDeliveries(now: Date): Promise<number>;
  listDeliveries(query: DeliveryQuery): Promise<Delivery[]>;
  /** Pending deliveries, per subscriber (the outbox depth). */
  pendingCounts(): Promise<Map<string, number>>;
  /** Subscribers with due, unclaimed pending deliveries (streams that are not enabled excluded). */
  dueSubscribers(): Promise<string[]>;
}
