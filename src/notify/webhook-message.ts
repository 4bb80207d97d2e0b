import { Webhook } from "standardwebhooks";
import type { Secret } from "../config/secret.js";
import type { SessionRevokedNotice } from "../store/outbox-types.js";

/** The Standard Webhooks payload of an ended session: the same facts as the SET, as JSON. */
export function webhookBody(n: SessionRevokedNotice): string {
  const endedAt = new Date(n.endedAt).toISOString();
  return JSON.stringify({
    type: "session.revoked",
    timestamp: endedAt,
    data: {
      ...(n.userId && { user_id: n.userId }),
      ...(n.sessionId !== undefined && { session_id: n.sessionId }),
      ...(n.provider && { provider: n.provider }),
      ...(n.tenant && { tenant: n.tenant }),
      ended_at: endedAt,
      initiating_entity: n.initiatingEntity,
      ...(n.reason && { reason: n.reason }),
      txn: n.txn,
    },
  });
}

/** The Standard Webhooks headers of one attempt: its id (the delivery's jti, the same on every retry), time and signature. */
export function webhookHeaders(secret: Secret, id: string, body: string, now: Date): Record<string, string> {
  return {
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": new Webhook(secret.reveal()).sign(id, now, body),
  };
}
