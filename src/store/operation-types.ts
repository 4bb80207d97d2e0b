import type { InitiatingEntity } from "./outbox-types.js";

/** A sign-out-everywhere operation, recorded before any upstream call. */
export interface OperationRecord {
  id: string;
  userId: string;
  reason: string;
  requestId: string;
  principal: string;
  createdAt: Date;
  updatedAt: Date;
  /** Background retries stop after this time. */
  expiresAt: Date;
  done: boolean;
  /** Who started it; its notices (each session's, and the user's once done) say so. */
  initiatingEntity: InitiatingEntity;
}

export type WorkKind = "list" | "end";

/** The session id of sign-out-everywhere's one work item for a provider that ends all of a user's sessions at once. */
export const ALL_SESSIONS = "*";
export type WorkState = "pending" | "ended" | "already_ended" | "failed";

/**
 * One piece of an operation's work: listing a user's sessions in a provider (kind "list",
 * sessionId ""), or ending one session there (kind "end").
 */
export interface WorkItem {
  operationId: string;
  provider: string;
  /** The user's id in that provider. */
  providerUserId: string;
  kind: WorkKind;
  sessionId: string;
  state: WorkState;
  attempts: number;
  /** When a pending item may be tried (again). */
  nextAttemptAt: Date;
  /** The last failure: gRPC code name, ErrorInfo reason, message. */
  lastError?: { code: string; reason: string; message: string };
  /** For an ALL_SESSIONS item ended: how many sessions were open, when the provider could list them. */
  sessionsEnded?: number;
}

export interface NewOperation {
  userId: string;
  reason: string;
  requestId: string;
  principal: string;
  expiresAt: Date;
  initiatingEntity: InitiatingEntity;
  /** One listing per provider: name and the user's id there. */
  providers: { provider: string; providerUserId: string }[];
}

/** What became of one attempt at a work item. */
export interface WorkOutcome {
  state: WorkState;
  lastError?: WorkItem["lastError"];
  /** For a pending (retrying) item: when to try again. */
  nextAttemptAt?: Date;
  /** For an ALL_SESSIONS item ended: how many sessions were open, when the provider could list them. */
  sessionsEnded?: number;
}

export interface OperationQuery {
  userId?: string;
  limit: number;
  /** Keyset cursor: only operations with an id below this one. */
  beforeId?: string;
}

/** A claim on due work: held by one worker until `until`, then free for others (a dead replica's work moves on). */
export interface WorkClaim {
  item: WorkItem;
  /** The operation the item belongs to. */
  operation: OperationRecord;
}

/** The durable record of operations and their work; implemented by every store. */
export interface OperationStore {
  /** Creates the operation and one pending "list" item per provider, atomically; the principal's known request id returns the existing operation. */
  createOperation(op: NewOperation): Promise<{ operation: OperationRecord; created: boolean }>;
  getOperation(id: string): Promise<{ operation: OperationRecord; items: WorkItem[] } | undefined>;
  listOperations(query: OperationQuery): Promise<OperationRecord[]>;
  /**
   * Records a finished listing: one pending "end" item is added per session (known ones are kept),
   * and the list item gets `listing` as its outcome (default `ended`; `failed` with its error when
   * the provider's listing stopped short of the user's last session).
   */
  completeListing(operationId: string, provider: string, sessionIds: string[], listing?: WorkOutcome): Promise<void>;
  /**
   * Records the outcome of an attempt and releases the claim; marks the operation done when nothing
   * is pending, and then queues the user's notice (src/store/outbox-types.ts) in the same transaction.
   */
  completeWork(item: Pick<WorkItem, "operationId" | "provider" | "kind" | "sessionId">, outcome: WorkOutcome): Promise<void>;
  /**
   * Claims up to `limit` due pending items (optionally of one operation only) for `worker` until
   * now + leaseMs, skipping items another live worker holds; counts the attempt.
   */
  claimWork(worker: string, leaseMs: number, limit: number, operationId?: string): Promise<WorkClaim[]>;
  /** Marks pending items of operations past their expiry as failed (those operations are done: see completeWork); returns how many. */
  expireWork(now: Date): Promise<number>;
}
