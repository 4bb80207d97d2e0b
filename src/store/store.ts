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

/** Persistence of sessions. Every write is durable before its promise resolves. */
export interface Store {
  createSession(session: NewSession): Promise<SessionRecord>;
  getSession(id: string): Promise<SessionRecord | undefined>;
  /** Newest first. */
  listSessions(query: ListQuery): Promise<SessionRecord[]>;
  /** Ends the session once; undefined when no such session exists. */
  terminateSession(id: string, termination: Omit<Termination, "date">): Promise<TerminateOutcome | undefined>;
  close(): Promise<void>;
}
