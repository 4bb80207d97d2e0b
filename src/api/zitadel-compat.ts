import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { DeleteSessionResponseSchema, type SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { callContextOf, callerOf } from "./principal-context.js";
import type { TerminateAction } from "./terminate.js";

/** zitadel.session.v2.SessionService: DeleteSession over the same action; the rest is UNIMPLEMENTED. */
export function zitadelSessionService(terminate: TerminateAction): Partial<ServiceImpl<typeof SessionService>> {
  return {
    async deleteSession(req, ctx) {
      const { details } = await terminate.run(callerOf(ctx), { sessionId: req.sessionId, sessionToken: req.sessionToken }, callContextOf(ctx));
      // Our Details and zitadel.object.v2.Details are the same message under two names.
      return create(DeleteSessionResponseSchema, {
        ...(details && {
          details: {
            sequence: details.sequence,
            resourceOwner: details.resourceOwner,
            ...(details.changeDate && { changeDate: details.changeDate }),
            ...(details.creationDate && { creationDate: details.creationDate }),
          },
        }),
      });
    },
  };
}
