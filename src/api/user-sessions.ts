import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { ListUserSessionsResponseSchema, ProviderSessionsSchema, type ProviderSessions as ProviderSessionsMessage, type SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { ProviderSessions, UserSessions } from "../sessions/user-sessions.js";
import { callContextOf, callerOf } from "./principal-context.js";

export type UserSessionsImpl = Pick<ServiceImpl<typeof SessionControl>, "listUserSessions">;

/** A user's sessions across providers: the request to the domain's input, each provider's part to its message. */
export function userSessionsService(userSessions: UserSessions): UserSessionsImpl {
  return {
    async listUserSessions(req, ctx) {
      const parts = await userSessions.list(callerOf(ctx), { userId: req.userId, providers: req.providers, providerUserIds: req.providerUserIds }, callContextOf(ctx));
      return create(ListUserSessionsResponseSchema, { providers: parts.map(partMessage) });
    },
  };
}

function partMessage(part: ProviderSessions): ProviderSessionsMessage {
  const base = { provider: part.provider, type: part.type, providerUserId: part.providerUserId };
  if ("cannotList" in part) return create(ProviderSessionsSchema, { ...base, cannotList: true });
  if ("failure" in part) {
    const f = part.failure;
    return create(ProviderSessionsSchema, { ...base, failure: { code: f.code, reason: f.reason, message: f.message, domain: f.domain, metadata: { ...f.metadata }, retryable: f.retryable } });
  }
  return create(ProviderSessionsSchema, {
    ...base,
    truncated: part.truncated,
    sessions: part.sessions.map((s) => ({ id: s.sessionId, userId: s.userId, active: s.active, ...(s.createdAt && { createTime: timestampFromDate(s.createdAt) }) })),
  });
}
