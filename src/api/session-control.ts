import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CreateSessionResponseSchema,
  GetSessionResponseSchema,
  ListProvidersResponseSchema,
  ListSessionsResponseSchema,
  TerminateResponseSchema,
  type SessionControl,
} from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { EmbeddedSessions } from "../sessions/embedded-sessions.js";
import type { EndSession } from "../sessions/end-session.js";
import type { ProviderDirectory } from "../sessions/provider-directory.js";
import type { DeliveriesImpl } from "./deliveries.js";
import type { OperationsImpl } from "./operations.js";
import { callContextOf, callerOf } from "./principal-context.js";
import type { UserLinksImpl } from "./user-links.js";
import type { UserSessionsImpl } from "./user-sessions.js";
import { detailsMessage, sessionMessage } from "./session-message.js";

export interface SessionsDeps {
  endSession: EndSession;
  sessions: EmbeddedSessions;
  providers: ProviderDirectory;
}

/** sessioncontrol.v1.SessionControl's session methods: messages to the domain's inputs, its results to messages. */
export function sessionControlService(deps: SessionsDeps): Omit<ServiceImpl<typeof SessionControl>, keyof OperationsImpl | keyof DeliveriesImpl | keyof UserLinksImpl | keyof UserSessionsImpl> {
  return {
    async terminate(req, ctx) {
      const ended = await deps.endSession.run(callerOf(ctx), { ...req }, callContextOf(ctx));
      return create(TerminateResponseSchema, { details: detailsMessage(ended.details), provider: ended.provider, alreadyTerminated: ended.alreadyTerminated, allUserSessions: ended.allOfUser === true });
    },

    async createSession(req, ctx) {
      const lifetime = req.lifetime;
      const { session, token } = await deps.sessions.create(callerOf(ctx), {
        userId: req.userId,
        resourceOwner: req.resourceOwner,
        metadata: req.metadata,
        // A negative part makes the whole lifetime invalid, as it is on the wire.
        ...(lifetime && { lifetimeMs: lifetime.seconds < 0n || lifetime.nanos < 0 ? -1 : Number(lifetime.seconds) * 1000 + lifetime.nanos / 1e6 }),
      });
      return create(CreateSessionResponseSchema, { details: detailsMessage(session), sessionId: session.id, sessionToken: token });
    },

    async getSession(req, ctx) {
      return create(GetSessionResponseSchema, { session: sessionMessage(await deps.sessions.get(callerOf(ctx), req.sessionId)) });
    },

    async listSessions(req, ctx) {
      const page = await deps.sessions.list(callerOf(ctx), req);
      return create(ListSessionsResponseSchema, { sessions: page.items.map(sessionMessage), nextPageToken: page.nextPageToken });
    },

    // Any authenticated caller (the handler saw to that) may list providers.
    async listProviders() {
      return create(ListProvidersResponseSchema, {
        providers: deps.providers.list().map((p) => ({
          name: p.name,
          type: p.type,
          isDefault: p.isDefault,
          health: {
            breakerState: p.health.breaker,
            ...(p.health.lastSuccess && { lastSuccessTime: timestampFromDate(p.health.lastSuccess) }),
            ...(p.health.lastError && { lastErrorTime: timestampFromDate(p.health.lastError.at), lastErrorCode: p.health.lastError.code }),
          },
        })),
      });
    },
  };
}
