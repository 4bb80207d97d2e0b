import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import {
  GetOperationResponseSchema,
  ListEventsResponseSchema,
  ListOperationsResponseSchema,
  TerminateUserResponseSchema,
  type SessionControl,
} from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { StepUp } from "../auth/step-up.js";
import type { FanOut } from "../operations/fan-out.js";
import { invalidArgument, serviceError, type FieldViolation } from "../status/errors.js";
import type { OperationStore } from "../store/operation-types.js";
import type { AuditStore, EventQuery } from "../store/store.js";
import { eventMessage, operationMessage } from "./operation-message.js";
import { decodePageToken, encodePageToken } from "./page-token.js";
import { callerOf } from "./principal-context.js";
import { checkLength, checkRequestId, pageSize, requirePermission } from "./validate.js";

export type OperationsImpl = Pick<ServiceImpl<typeof SessionControl>, "terminateUser" | "getOperation" | "listOperations" | "listEvents">;

/** Time kept back from the caller's deadline to write the answer: a quarter of it, from 100 ms to 1 s, so a loaded host still answers in time. */
function answerMarginMs(timeoutMs: number): number {
  return Math.min(Math.max(timeoutMs / 4, 100), 1_000);
}

export interface OperationsDeps {
  operations: OperationStore;
  audit: AuditStore;
  fanOut: FanOut;
  stepUp: StepUp;
  providerNames: readonly string[];
  maxAgeMs: number;
}

/** Sign out everywhere, its operations, and the audit trail. */
export function operationsService(deps: OperationsDeps): OperationsImpl {
  return {
    async terminateUser(req, ctx) {
      const caller = callerOf(ctx);
      requirePermission(caller, "session.delete");
      const violations: FieldViolation[] = [];
      checkLength(violations, "user_id", req.userId, { required: true });
      checkLength(violations, "reason", req.reason, { required: false, max: 1000 });
      checkRequestId(violations, req.requestId);
      const unknown = [...req.providers, ...Object.keys(req.providerUserIds)].filter((p) => !deps.providerNames.includes(p));
      for (const name of new Set(unknown)) violations.push({ field: "providers", description: `unknown provider "${name}"; configured: ${deps.providerNames.join(", ")}` });
      for (const [p, id] of Object.entries(req.providerUserIds)) checkLength(violations, `provider_user_ids[${JSON.stringify(p)}]`, id, { required: true });
      if (violations.length > 0) throw invalidArgument(violations);
      // After validation, so that a refused request does not use up the caller's code.
      await deps.stepUp.verify(caller, ctx.requestHeader.get("x-2fa-code"));
      const providers = req.providers.length > 0 ? [...new Set(req.providers)] : deps.providerNames;
      const timeoutMs = ctx.timeoutMs();
      const operation = await deps.fanOut.run(
        {
          userId: req.userId,
          reason: req.reason,
          requestId: req.requestId || randomUUID(),
          principal: caller.name,
          expiresAt: new Date(Date.now() + deps.maxAgeMs),
          providers: providers.map((provider) => ({ provider, providerUserId: req.providerUserIds[provider] || req.userId })),
        },
        Date.now() + (timeoutMs === undefined ? 10_000 : Math.max(0, timeoutMs - answerMarginMs(timeoutMs))),
      );
      // A known request id returns its operation, but never one for another user (as Terminate refuses one used for another session).
      if (operation.userId !== req.userId) throw invalidArgument([{ field: "request_id", description: "was already used for another user" }]);
      const snapshot = await deps.operations.getOperation(operation.id);
      return create(TerminateUserResponseSchema, { operation: operationMessage(snapshot!.operation, snapshot!.items) });
    },

    async getOperation(req, ctx) {
      requirePermission(callerOf(ctx), "session.read");
      const found = req.id ? await deps.operations.getOperation(req.id) : undefined;
      if (!found) throw serviceError(Code.NotFound, "OPERATION_NOT_FOUND", "operation not found");
      return create(GetOperationResponseSchema, { operation: operationMessage(found.operation, found.items) });
    },

    async listOperations(req, ctx) {
      requirePermission(callerOf(ctx), "session.read");
      const beforeId = page(req.pageToken, req.userId);
      const limit = pageSize(req.pageSize);
      const rows = await deps.operations.listOperations({ limit: limit + 1, ...(req.userId && { userId: req.userId }), ...(beforeId && { beforeId }) });
      const shown = rows.slice(0, limit);
      const operations = await Promise.all(shown.map(async (o) => operationMessage(o, (await deps.operations.getOperation(o.id))?.items ?? [])));
      return create(ListOperationsResponseSchema, {
        operations,
        nextPageToken: rows.length > limit ? encodePageToken(req.userId, shown[shown.length - 1]!.id) : "",
      });
    },

    async listEvents(req, ctx) {
      requirePermission(callerOf(ctx), "session.read");
      const filter: Omit<EventQuery, "limit" | "beforeId"> = {
        ...(req.userId && { userId: req.userId }),
        ...(req.sessionId && { sessionId: req.sessionId }),
        ...(req.principal && { principal: req.principal }),
        ...(req.provider && { provider: req.provider }),
        ...(req.startTime && { from: timestampDate(req.startTime) }),
        ...(req.endTime && { to: timestampDate(req.endTime) }),
      };
      const scope = JSON.stringify(filter);
      const before = page(req.pageToken, scope, /^\d{1,20}$/);
      const limit = pageSize(req.pageSize);
      const rows = await deps.audit.listEvents({ ...filter, limit: limit + 1, ...(before && { beforeId: BigInt(before) }) });
      const shown = rows.slice(0, limit);
      return create(ListEventsResponseSchema, {
        events: shown.map(eventMessage),
        nextPageToken: rows.length > limit ? encodePageToken(scope, shown[shown.length - 1]!.id.toString()) : "",
      });
    },
  };
}



/** The cursor of a page token issued for this filter; INVALID_ARGUMENT for any other token. */
function page(token: string, filter: string, idPattern?: RegExp): string | undefined {
  if (!token) return undefined;
  const cursor = decodePageToken(token, filter, idPattern);
  if (cursor === undefined) throw invalidArgument([{ field: "page_token", description: "is not a token this list issued for these filters" }]);
  return cursor;
}
