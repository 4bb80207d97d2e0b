import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  GetOperationResponseSchema,
  ListEventsResponseSchema,
  ListOperationsResponseSchema,
  TerminateUserResponseSchema,
  WatchOperationResponseSchema,
  type SessionControl,
} from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { AuditTrail } from "../sessions/audit-trail.js";
import type { EndAllSessions, Operations } from "../sessions/end-all-sessions.js";
import type { OperationWatches } from "../sessions/operation-watch.js";
import { eventMessage, operationMessage } from "./operation-message.js";
import { callContextOf, callerOf } from "./principal-context.js";

export type OperationsImpl = Pick<ServiceImpl<typeof SessionControl>, "terminateUser" | "getOperation" | "watchOperation" | "listOperations" | "listEvents">;

export interface OperationsDeps {
  endAll: EndAllSessions;
  operations: Operations;
  watches: OperationWatches;
  auditTrail: AuditTrail;
}

/** Sign out everywhere, its operations, and the audit trail: messages to the domain's inputs, its results to messages. */
export function operationsService(deps: OperationsDeps): OperationsImpl {
  return {
    async terminateUser(req, ctx) {
      const { operation, items } = await deps.endAll.run(callerOf(ctx), req, callContextOf(ctx));
      return create(TerminateUserResponseSchema, { operation: operationMessage(operation, items) });
    },

    async getOperation(req, ctx) {
      const { operation, items } = await deps.operations.get(callerOf(ctx), req.id);
      return create(GetOperationResponseSchema, { operation: operationMessage(operation, items) });
    },

    async *watchOperation(req, ctx) {
      for await (const { operation, items } of deps.watches.watch(callerOf(ctx), req.id, callContextOf(ctx))) {
        yield create(WatchOperationResponseSchema, { operation: operationMessage(operation, items) });
      }
      // Ended by the caller or its deadline: say so, rather than end the stream as if the operation were done.
      ctx.signal.throwIfAborted();
    },

    async listOperations(req, ctx) {
      const page = await deps.operations.list(callerOf(ctx), req);
      return create(ListOperationsResponseSchema, { operations: page.items.map((o) => operationMessage(o.operation, o.items)), nextPageToken: page.nextPageToken });
    },

    async listEvents(req, ctx) {
      const filter = {
        ...(req.userId && { userId: req.userId }),
        ...(req.sessionId && { sessionId: req.sessionId }),
        ...(req.principal && { principal: req.principal }),
        ...(req.provider && { provider: req.provider }),
        ...(req.startTime && { from: timestampDate(req.startTime) }),
        ...(req.endTime && { to: timestampDate(req.endTime) }),
      };
      const page = await deps.auditTrail.list(callerOf(ctx), filter, req);
      return create(ListEventsResponseSchema, { events: page.items.map(eventMessage), nextPageToken: page.nextPageToken });
    },
  };
}
