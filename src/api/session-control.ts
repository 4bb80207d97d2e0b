import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import {
  CreateSessionResponseSchema,
  GetSessionResponseSchema,
  ListProvidersResponseSchema,
  ListSessionsResponseSchema,
  type SessionControl,
} from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { hasPermission, type Principal } from "../auth/principal.js";
import { newSessionToken } from "../auth/session-token.js";
import type { SessionRecord, SessionStore } from "../store/store.js";
import { invalidArgument, serviceError, type FieldViolation } from "../status/errors.js";
import type { OperationsImpl } from "./operations.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import { callContextOf, callerOf } from "./principal-context.js";
import { sessionMessage } from "./session-message.js";
import { detailsMessage, type TerminateAction } from "./terminate.js";
import { checkLength, pageSize, requirePermission } from "./validate.js";

const MAX_METADATA_KEYS = 64;
const MAX_METADATA_VALUE_BYTES = 4096;
const MAX_LIFETIME_SECONDS = 10n * 365n * 24n * 3600n;

/** Handlers of sessioncontrol.v1.SessionControl: validate, authorize, delegate. */
export function sessionControlService(sessions: SessionStore, terminate: TerminateAction): Omit<ServiceImpl<typeof SessionControl>, keyof OperationsImpl> {
  return {
    async terminate(req, ctx) {
      return terminate.run(callerOf(ctx), { ...req }, callContextOf(ctx));
    },

    async createSession(req, ctx) {
      const caller = callerOf(ctx);
      requirePermission(caller, "session.create");
      const violations: FieldViolation[] = [];
      checkLength(violations, "user_id", req.userId, { required: true });
      checkLength(violations, "resource_owner", req.resourceOwner, { required: false });
      const keys = Object.keys(req.metadata);
      if (keys.length > MAX_METADATA_KEYS) violations.push({ field: "metadata", description: `at most ${MAX_METADATA_KEYS} keys` });
      for (const key of keys) {
        checkLength(violations, `metadata[${JSON.stringify(key.slice(0, 50))}]`, key, { required: true });
        if (req.metadata[key]!.length > MAX_METADATA_VALUE_BYTES)
          violations.push({ field: `metadata[${JSON.stringify(key.slice(0, 50))}]`, description: `value must be at most ${MAX_METADATA_VALUE_BYTES} bytes` });
      }
      const lifetime = req.lifetime;
      if (lifetime && (lifetime.seconds < 0n || lifetime.nanos < 0 || (lifetime.seconds === 0n && lifetime.nanos === 0) || lifetime.seconds > MAX_LIFETIME_SECONDS))
        violations.push({ field: "lifetime", description: "must be positive and at most 10 years" });
      if (violations.length > 0) throw invalidArgument(violations);
      const { token, hash } = newSessionToken();
      const expiresInMs = lifetime ? Number(lifetime.seconds) * 1000 + Math.floor(lifetime.nanos / 1e6) : undefined;
      const session = await sessions.createSession({
        userId: req.userId,
        resourceOwner: req.resourceOwner,
        metadata: req.metadata,
        tokenHash: hash,
        ...(expiresInMs !== undefined ? { expirationDate: new Date(Date.now() + expiresInMs) } : {}),
      });
      return create(CreateSessionResponseSchema, {
        details: detailsMessage(session),
        sessionId: session.id,
        sessionToken: token,
      });
    },

    async getSession(req, ctx) {
      const caller = callerOf(ctx);
      const violations: FieldViolation[] = [];
      checkLength(violations, "session_id", req.sessionId, { required: true });
      if (violations.length > 0) throw invalidArgument(violations);
      const session = await sessions.getSession(req.sessionId);
      if (!mayRead(caller, session)) {
        throw hasPermission(caller, "session.read")
          ? serviceError(Code.NotFound, "SESSION_NOT_FOUND", "session not found")
          : serviceError(Code.PermissionDenied, "PERMISSION_DENIED", "not allowed to read this session: hold session.read or own it");
      }
      return create(GetSessionResponseSchema, { session: sessionMessage(session!) });
    },

    async listSessions(req, ctx) {
      const caller = callerOf(ctx);
      const violations: FieldViolation[] = [];
      checkLength(violations, "user_id", req.userId, { required: false });
      const beforeId = req.pageToken ? decodePageToken(req.pageToken, req.userId) : undefined;
      if (req.pageToken && beforeId === undefined) violations.push({ field: "page_token", description: "is not a token this list issued for this user_id" });
      if (violations.length > 0) throw invalidArgument(violations);
      if (!hasPermission(caller, "session.read") && (caller.userId === undefined || caller.userId !== req.userId))
        throw serviceError(Code.PermissionDenied, "PERMISSION_DENIED", "listing sessions needs session.read, or user_id set to your own user");
      const limit = pageSize(req.pageSize);
      // One more than the page tells whether another page follows.
      const rows = await sessions.listSessions({
        limit: limit + 1,
        ...(req.userId ? { userId: req.userId } : {}),
        ...(beforeId ? { beforeId } : {}),
      });
      const page = rows.slice(0, limit);
      return create(ListSessionsResponseSchema, {
        sessions: page.map(sessionMessage),
        nextPageToken: rows.length > limit ? encodePageToken(req.userId, page[page.length - 1]!.id) : "",
      });
    },

    // Any authenticated caller (the handler saw to that) may list providers.
    async listProviders() {
      return create(ListProvidersResponseSchema, {
        providers: terminate.providers.map((p) => {
          const h = p.health();
          return {
            name: p.name,
            type: p.type,
            isDefault: p.name === terminate.defaultProvider,
            health: {
              breakerState: h.breaker,
              ...(h.lastSuccess && { lastSuccessTime: timestampFromDate(h.lastSuccess) }),
              ...(h.lastError && { lastErrorTime: timestampFromDate(h.lastError.at), lastErrorCode: h.lastError.code }),
            },
          };
        }),
      });
    },
  };
}


function mayRead(caller: Principal, session: SessionRecord | undefined): session is SessionRecord {
  if (!session) return false;
  return hasPermission(caller, "session.read") || (caller.userId !== undefined && caller.userId === session.userId);
}
