import { requirePermission, type Principal } from "../auth/principal.js";
import { invalidArgument, type FieldViolation } from "../status/failure.js";
import { DELIVERY_STATES, type Delivery, type OutboxStore } from "../store/outbox-types.js";
import { encodePageToken, pageCursor, pageSize, type Page } from "../store/page-token.js";

/** Filters of ListDeliveries; empty means any. */
export interface DeliveryFilter {
  /** A subscriber id as deliveries show it: `receiver:<name>` or `stream:<stream_id>`. */
  receiver: string;
  state: string;
}

const RECEIVER = /^(receiver|stream):.{1,200}$/su;

/** Reading the outbox: what was sent to whom and how it went, newest first; needs session.read. Never a secret: deliveries hold none. */
export class Deliveries {
  constructor(private readonly outbox: Pick<OutboxStore, "listDeliveries">) {}

  async list(caller: Principal, filter: DeliveryFilter, paging: { pageSize: number; pageToken: string }): Promise<Page<Delivery>> {
    requirePermission(caller, "session.read");
    const violations: FieldViolation[] = [];
    if (filter.receiver && !RECEIVER.test(filter.receiver)) violations.push({ field: "receiver", description: 'must be "receiver:<name>" or "stream:<stream_id>" (at most 200 characters after the colon)' });
    const state = DELIVERY_STATES.find((s) => s === filter.state);
    if (filter.state && !state) violations.push({ field: "state", description: `must be one of ${DELIVERY_STATES.join(", ")}` });
    if (violations.length > 0) throw invalidArgument(violations);
    // Tokens are bound to the filters they were issued for.
    const scope = JSON.stringify([filter.receiver, filter.state]);
    const before = pageCursor(paging.pageToken, scope, /^\d{1,20}$/);
    const limit = pageSize(paging.pageSize);
    const rows = await this.outbox.listDeliveries({
      limit: limit + 1,
      ...(filter.receiver && { subscriber: filter.receiver }),
      ...(state && { state }),
      ...(before && { beforeId: BigInt(before) }),
    });
    const shown = rows.slice(0, limit);
    return { items: shown, nextPageToken: rows.length > limit ? encodePageToken(scope, shown[shown.length - 1]!.id.toString()) : "" };
  }
}
