import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { EventSchema, OperationSchema, type Event, type Operation } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { OperationRecord, WorkItem } from "../store/operation-types.js";
import type { ListedEvent } from "../store/store.js";

/** An operation with its progress per provider, as the API shows it. */
export function operationMessage(op: OperationRecord, items: readonly WorkItem[]): Operation {
  const providers = [...new Set(items.map((i) => i.provider))].map((provider) => {
    const mine = items.filter((i) => i.provider === provider);
    const list = mine.find((i) => i.kind === "list");
    const ends = mine.filter((i) => i.kind === "end");
    return {
      provider,
      providerUserId: list?.providerUserId ?? "",
      listed: list?.state === "ended",
      // A user-wide end counts the sessions it found open, when the provider could list them.
      sessionsEnded: ends.filter((i) => i.state === "ended").reduce((n, i) => n + (i.sessionsEnded ?? 1), 0),
      sessionsAlreadyEnded: ends.filter((i) => i.state === "already_ended").length,
      sessionsPending: ends.filter((i) => i.state === "pending").length,
      failures: mine
        .filter((i) => i.lastError && (i.state === "failed" || i.state === "pending"))
        .map((i) => ({
          sessionId: i.sessionId,
          code: i.lastError!.code,
          reason: i.lastError!.reason,
          message: i.lastError!.message,
          retrying: i.state === "pending",
          attempts: i.attempts,
        })),
    };
  });
  return create(OperationSchema, {
    id: op.id,
    userId: op.userId,
    reason: op.reason,
    requestId: op.requestId,
    principal: op.principal,
    createTime: timestampFromDate(op.createdAt),
    updateTime: timestampFromDate(op.updatedAt),
    expireTime: timestampFromDate(op.expiresAt),
    done: op.done,
    providers,
  });
}

export function eventMessage(e: ListedEvent): Event {
  return create(EventSchema, {
    id: e.id,
    time: timestampFromDate(e.time),
    principal: e.principal,
    provider: e.provider,
    sessionId: e.sessionId,
    userId: e.userId,
    requestId: e.requestId,
    reason: e.reason,
    code: e.code,
    errorReason: e.error?.reason ?? "",
    errorMessage: e.error?.message ?? "",
    alreadyTerminated: e.alreadyTerminated,
    operationId: e.operationId ?? "",
  });
}
