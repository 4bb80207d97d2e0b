import type { LinkStore } from "./link-types.js";
import type { OperationStore } from "./operation-types.js";
import type { InitiatingEntity, OutboxStore } from "./outbox-types.js";
import type { StreamStore } from "./stream-types.js";

/** A session of the embedded store. The token itself is never stored, only its hash. */
export interface SessionRecord {
  id: string;
  userId: string;
  resourceOwner: string;
  creationDate: Date;
  changeDate: Date;
  sequence: bigint;
  expirationDate?: Date;
  metadata: Record<string, Uint8Array>;
  tokenHash: Uint8Array;
  termination?: Termination;
}

/** Who ended a session, when and why. */
export interface Termination {
  date: Date;
  by: string;
  reason: string;
  requestId: string;
}

export interface NewSession {
  userId: string;
  resourceOwner: string;
  metadata: Record<string, Uint8Array>;
  expirationDate?: Date;
  tokenHash: Uint8Array;
}

export interface ListQuery {
  userId?: string;
  limit: number;
  /** Keyset cursor: only sessions with an id below this one (ids sort by creation). */
  beforeId?: string;
}

export interface TerminateOutcome {
  session: SessionRecord;
  alreadyTerminated: boolean;
}

/** Details of a change (zitadel.object.v2.Details): the one shape the store, the providers and the API share. */
export interface ChangeDetails {
  sequence: bigint;
  changeDate?: Date;
  resourceOwner: string;
  creationDate?: Date;
}

/** One Terminate call as the audit trail keeps it: who, what, where, when, why, and the outcome. */
export interface AuditEvent {
  time: Date;
  principal: string;
  provider: string;
  sessionId: string;
  userId: string;
  requestId: string;
  /** The caller's reason. */
  reason: string;
  /** "OK" or the gRPC code name, e.g. "PERMISSION_DENIED". */
  code: string;
  alreadyTerminated: boolean;
  /** Set on success. */
  details?: ChangeDetails;
  /** Set on failure: the ErrorInfo reason, the message, the ErrorInfo metadata, and whether a retry may help. */
  error?: { reason: string; message: string; metadata: Record<string, string>; retryable: boolean };
  /** The sign-out-everywhere operation the attempt belongs to, if any. */
  operationId?: string;
  /** Where the request id is replayed (see requestScope); absent for a refusal, which is never replayed. */
  requestScope?: string;
  /**
   * Announce the end to the outbox's subscribers: written with a successful first end (code OK,
   * not already terminated), in the same transaction, as one notice (src/store/outbox-types.ts).
   */
  announce?: {
    initiatingEntity: InitiatingEntity;
    /** The user the announcement names: the session's own as its store or provider knows it; never an id only the caller claimed. */
    userId: string;
    /** Every session of the user was ended (a user-wide call): the announcement names the user alone. */
    allOfUser?: boolean;
  };
}

/**
 * A request id belongs to whoever used it: the principal that sent it, or the operation whose
 * background work derived it. Another scope's id is a new id; the store looks ids up by both.
 */
export const requestScope = {
  principal: (name: string) => `principal:${name}`,
  operation: (id: string) => `operation:${id}`,
};

/** An audit event before its outcome is known. */
export type AuditTemplate = Omit<AuditEvent, "code" | "alreadyTerminated" | "details" | "error">;

/** The audit event of a successful termination; the session's user when the caller named none. */
export function terminationEvent(audit: AuditTemplate, outcome: TerminateOutcome): AuditEvent {
  const s = outcome.session;
  return {
    ...audit,
    userId: audit.userId || s.userId,
    // The embedded store knows the session's user: that is who the announcement names.
    ...(audit.announce && { announce: { ...audit.announce, userId: s.userId } }),
    code: "OK",
    alreadyTerminated: outcome.alreadyTerminated,
    details: { sequence: s.sequence, changeDate: s.changeDate, resourceOwner: s.resourceOwner, creationDate: s.creationDate },
  };
}

/** An event as listed: with its position in the trail. */
export interface ListedEvent extends AuditEvent {
  id: bigint;
}

/** Filters of the audit trail; each one given must match. Newest first. */
export interface EventQuery {
  userId?: string;
  sessionId?: string;
  principal?: string;
  provider?: string;
  /** At or after. */
  from?: Date;
  /** Before. */
  to?: Date;
  limit: number;
  /** Keyset cursor: only events with an id below this one. */
  beforeId?: bigint;
}

/** The embedded store's sessions. Every write is durable before its promise resolves. */
export interface SessionStore {
  createSession(session: NewSession): Promise<SessionRecord>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** Newest first. */
  listSessions(query: ListQuery): Promise<SessionRecord[]>;
  /**
   * Ends the session once; undefined when no such session exists. With `audit`, the successful
   * outcome's audit event is written in the same transaction (one commit for both).
   */
  terminateSession(id: string, termination: Omit<Termination, "date">, audit?: AuditTemplate): Promise<TerminateOutcome | undefined>;
}

/** The audit trail. */
export interface AuditStore {
  recordEvent(event: AuditEvent): Promise<void>;
  /** The latest event of a request id in its scope (events without a scope are never found). */
  findEventByRequestId(scope: string, requestId: string): Promise<AuditEvent | undefined>;
  /** The successful termination of a session through a provider, if this service made one. */
  findTermination(provider: string, sessionId: string): Promise<AuditEvent | undefined>;
  listEvents(query: EventQuery): Promise<ListedEvent[]>;
  /** Deletes up to `limit` of the oldest events from before `cutoff` (audit retention); answers how many. */
  deleteEventsBefore(cutoff: Date, limit: number): Promise<number>;
}

/** Step-up codes used. */
export interface TotpStepStore {
  /**
   * Records that a principal used a TOTP code of a time step; false when it was used before
   * (a code is good once, on every replica).
   */
  useTotpStep(principal: string, step: number): Promise<boolean>;
}

/** Token ids (`jti`) of inbound signed requests already acted on: each is good once, on every replica. */
export interface SeenTokenStore {
  /** Records the token id of an issuer, kept until `until`; false when it was seen before (and has not lapsed). */
  firstUse(issuer: string, jti: string, until: Date): Promise<boolean>;
  /** Forgets a token id, so that the token may be presented again (its request could not be carried out). */
  forget(issuer: string, jti: string): Promise<void>;
}

/** Secrets of the service itself. */
export interface SecretStore {
  /**
   * The service's secret of this name: 32 random bytes made on first use, kept in the store, so
   * every replica on the same store gets the same one. Never logged, never answered.
   */
  serviceSecret(name: string): Promise<Buffer>;
}

/** The SET signing key made on first start when none is configured, kept with the store. */
export interface SigningKeyStore {
  /** Where the key is kept, for messages (never the key itself). */
  readonly location: string;
  /**
   * The kept key (PEM); when there is none, `generate`'s is kept first. Processes starting at once
   * on the same store: the first to keep one wins, and every one gets the winner's.
   */
  signingKey(generate: () => Promise<string>): Promise<string>;
}

/** One store, split by use: each consumer is given only the part it uses. */
export interface Stores {
  sessions: SessionStore;
  audit: AuditStore;
  operations: OperationStore;
  totpSteps: TotpStepStore;
  seenTokens: SeenTokenStore;
  secrets: SecretStore;
  outbox: OutboxStore;
  signingKeys: SigningKeyStore;
  streams: StreamStore;
  links: LinkStore;
  close(): Promise<void>;
}
