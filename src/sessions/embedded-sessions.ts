import { hasPermission, requirePermission, type Principal } from "../auth/principal.js";
import { newSessionToken } from "../auth/session-token.js";
import { Failure, invalidArgument, permissionDenied, type FieldViolation } from "../status/failure.js";
import type { SessionRecord, SessionStore } from "../store/store.js";
import { decodePageToken, encodePageToken, pageSize, type Page } from "../store/page-token.js";
import { checkLength } from "./validate.js";

const MAX_METADATA_KEYS = 64;
const MAX_METADATA_VALUE_BYTES = 4096;
const MAX_LIFETIME_SECONDS = 10 * 365 * 24 * 3600;

export interface NewSessionInput {
  userId: string;
  resourceOwner: string;
  metadata: Record<string, Uint8Array>;
  /** How long the session lives (ms, fractions allowed); undefined: until ended. Must be positive and at most 10 years. */
  lifetimeMs?: number;
}

/** The sessions of the embedded store: created, read and listed here, ended through EndSession. */
export class EmbeddedSessions {
  constructor(private readonly sessions: Omit<SessionStore, "terminateSession">) {}

  /** A new session and its token, which is never stored (only its hash) and never shown again. */
  async create(caller: Principal, input: NewSessionInput): Promise<{ session: SessionRecord; token: string }> {
    requirePermission(caller, "session.create");
    const violations: FieldViolation[] = [];
    checkLength(violations, "user_id", input.userId, { required: true });
    checkLength(violations, "resource_owner", input.resourceOwner, { required: false });
    const keys = Object.keys(input.metadata);
    if (keys.length > MAX_METADATA_KEYS) violations.push({ field: "metadata", description: `at most ${MAX_METADATA_KEYS} keys` });
    for (const key of keys) {
      checkLength(violations, `metadata[${JSON.stringify(key.slice(0, 50))}]`, key, { required: true });
      if (input.metadata[key]!.length > MAX_METADATA_VALUE_BYTES)
        violations.push({ field: `metadata[${JSON.stringify(key.slice(0, 50))}]`, description: `value must be at most ${MAX_METADATA_VALUE_BYTES} bytes` });
    }
    const lifetime = input.lifetimeMs;
    if (lifetime !== undefined && !(lifetime > 0 && Math.floor(lifetime / 1000) <= MAX_LIFETIME_SECONDS)) violations.push({ field: "lifetime", description: "must be positive and at most 10 years" });
    if (violations.length > 0) throw invalidArgument(violations);
    const { token, hash } = newSessionToken();
    const session = await this.sessions.createSession({
      userId: input.userId,
      resourceOwner: input.resourceOwner,
      metadata: input.metadata,
      tokenHash: hash,
      ...(lifetime !== undefined && { expirationDate: new Date(Date.now() + Math.floor(lifetime)) }),
    });
    return { session, token };
  }

  /** A session to a caller holding session.read or owning it; to others, whether it exists stays unknown. */
  async get(caller: Principal, sessionId: string): Promise<SessionRecord> {
    const violations: FieldViolation[] = [];
    checkLength(violations, "session_id", sessionId, { required: true });
    if (violations.length > 0) throw invalidArgument(violations);
    const session = await this.sessions.getSession(sessionId);
    if (session && (hasPermission(caller, "session.read") || (caller.userId !== undefined && caller.userId === session.userId))) return session;
    throw hasPermission(caller, "session.read")
      ? new Failure("NOT_FOUND", "SESSION_NOT_FOUND", "session not found")
      : permissionDenied("not allowed to read this session: hold session.read or own it");
  }

  /** Newest first, a page at a time: all sessions with session.read, or the caller's own. */
  async list(caller: Principal, query: { userId: string; pageSize: number; pageToken: string }): Promise<Page<SessionRecord>> {
    const violations: FieldViolation[] = [];
    checkLength(violations, "user_id", query.userId, { required: false });
    const beforeId = query.pageToken ? decodePageToken(query.pageToken, query.userId) : undefined;
    if (query.pageToken && beforeId === undefined) violations.push({ field: "page_token", description: "is not a token this list issued for this user_id" });
    if (violations.length > 0) throw invalidArgument(violations);
    if (!hasPermission(caller, "session.read") && (caller.userId === undefined || caller.userId !== query.userId))
      throw permissionDenied("listing sessions needs session.read, or user_id set to your own user");
    const limit = pageSize(query.pageSize);
    // One more than the page tells whether another page follows.
    const rows = await this.sessions.listSessions({ limit: limit + 1, ...(query.userId && { userId: query.userId }), ...(beforeId && { beforeId }) });
    const items = rows.slice(0, limit);
    return { items, nextPageToken: rows.length > limit ? encodePageToken(query.userId, items[items.length - 1]!.id) : "" };
  }
}
