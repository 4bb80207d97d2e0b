import type { Delivery, DeliveryError, DeliveryState, Notice } from "./outbox-types.js";
import { parsed, toDate, type Count, type Time } from "./rows.js";

/** A deliveries row with its notice, as either database gives it back (see rows.ts). */
export interface DeliveryRow {
  id: Count;
  subscriber: string;
  jti: string;
  notice: string | Notice;
  state: DeliveryState;
  attempts: Count;
  created_at: Time;
  updated_at: Time;
  next_attempt_at: Time;
  expires_at: Time;
  last_error: string | DeliveryError | null;
}

export function deliveryFromRow(r: DeliveryRow): Delivery {
  const delivery: Delivery = {
    id: BigInt(r.id),
    subscriber: r.subscriber,
    jti: r.jti,
    notice: parsed(r.notice),
    state: r.state,
    attempts: Number(r.attempts),
    createdAt: toDate(r.created_at),
    updatedAt: toDate(r.updated_at),
    nextAttemptAt: toDate(r.next_attempt_at),
    expiresAt: toDate(r.expires_at),
  };
  if (r.last_error) delivery.lastError = parsed(r.last_error);
  return delivery;
}

/** Oldest due first: the order claims are answered in. */
export function byDue(a: Delivery, b: Delivery): number {
  return a.nextAttemptAt.getTime() - b.nextAttemptAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
