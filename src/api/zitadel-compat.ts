import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { DeleteSessionResponseSchema, type SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import type { EndSession } from "../sessions/end-session.js";
import { callContextOf, callerOf } from "./principal-context.js";
import { detailsMessage } from "./session-message.js";

/** zitadel.session.v2.SessionService: DeleteSession ends a session as Terminate does; the rest is UNIMPLEMENTED. */
export function zitadelSessionService(endSession: EndSession): Partial<ServiceImpl<typeof SessionService>> {
  return {
    async deleteSession(req, ctx) {
      const { details } = await endSession.run(callerOf(ctx), { sessionId: req.sessionId, sessionToken: req.sessionToken }, callContextOf(ctx));
      // sessioncontrol.v1.Details and zitadel.object.v2.Details are one message under two names.
      return create(DeleteSessionResponseSchema, { details: detailsMessage(details) });
    },
  };
}
