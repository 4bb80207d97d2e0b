import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { DeliverySchema, ListDeliveriesResponseSchema, type Delivery as DeliveryMessage, type SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { Deliveries } from "../notify/deliveries.js";
import type { Delivery } from "../store/outbox-types.js";
import { callerOf } from "./principal-context.js";

export type DeliveriesImpl = Pick<ServiceImpl<typeof SessionControl>, "listDeliveries">;

/** ListDeliveries: the request to the domain's filters, its deliveries to messages. */
export function deliveriesService(deliveries: Deliveries): DeliveriesImpl {
  return {
    async listDeliveries(req, ctx) {
      const page = await deliveries.list(callerOf(ctx), req, req);
      return create(ListDeliveriesResponseSchema, { deliveries: page.items.map(deliveryMessage), nextPageToken: page.nextPageToken });
    },
  };
}

function deliveryMessage(d: Delivery): DeliveryMessage {
  const n = d.notice;
  return create(DeliverySchema, {
    jti: d.jti,
    receiver: d.subscriber,
    kind: n.kind,
    userId: n.kind === "session-revoked" ? n.userId : "",
    sessionId: n.kind === "session-revoked" ? (n.sessionId ?? "") : "",
    state: d.state,
    attempts: d.attempts,
    createTime: timestampFromDate(d.createdAt),
    updateTime: timestampFromDate(d.updatedAt),
    ...(d.state === "pending" && { nextAttemptTime: timestampFromDate(d.nextAttemptAt) }),
    expireTime: timestampFromDate(d.expiresAt),
    ...(d.lastError && { lastError: { httpStatus: d.lastError.status ?? 0, err: d.lastError.err ?? "", message: d.lastError.message } }),
  });
}
