import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { DeleteSessionResponseSchema, type SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { callerOf } from "./principal-context.js";
import type { TerminateAction } from "./terminate.js";

/** zitadel.session.v2.SessionService: DeleteSession over the same action; the rest is UNIMPLEMENTED. */
export function zitadelSessionService(terminate: TerminateAction): Partial<ServiceImpl<typeof SessionService>> {
  return {
    async deleteSession(req, ctx) {
      const res = await terminate.run(callerOf(ctx), { sessionId: req.sessionId, sessionToken: req.sessionToken }, ctx.signal);
      return create(DeleteSessionResponseSchema, { ...(res.details ? { details: { ...res.details, $typeName: "zitadel.object.v2.Details" } } : {}) });
    },
  };
}
