import { streamIdOf, type Delivery, type SessionRevokedNotice } from "../store/outbox-types.js";
import type { Target } from "./targets.js";

/** CAEP 1.0 §3.1. */
export const SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/** SSF 1.0 §8.1.4. */
export const VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/**
 * The claims of a delivery's SET (RFC 8417 §2.2, SSF 1.0 §4): the subject in the top-level `sub_id`,
 * one event, no `sub` and no `exp`. `iat` is when the delivery was queued, so every retry (same
 * `jti`) carries the same claims.
 */
export function setClaims(delivery: Delivery, target: Target, issuer: string): Record<string, unknown> {
  const common = { iss: issuer, jti: delivery.jti, iat: seconds(delivery.createdAt.getTime()), aud: target.audience };
  const notice = delivery.notice;
  if (notice.kind === "verification") {
    // A stream's verification event names the stream as its subject (SSF 1.0 §8.1.4.1).
    const event = notice.state === undefined ? {} : { state: notice.state };
    return { ...common, sub_id: { format: "opaque", id: streamIdOf(delivery.subscriber) ?? delivery.subscriber }, events: { [VERIFICATION]: event } };
  }
  return { ...common, txn: notice.txn, sub_id: subject(notice, target.subjectFormat), events: { [SESSION_REVOKED]: sessionRevoked(notice) } };
}

/**
 * RFC 9493 / SSF 1.0 §3: the user, and (complex) the session and tenant when known. An upstream end
 * whose user nobody named has no user to give: it is sent as a complex subject of its session.
 */
function subject(n: SessionRevokedNotice, format: Target["subjectFormat"]): Record<string, unknown> {
  if (format === "opaque" && n.userId) return opaque(n.userId);
  return {
    format: "complex",
    ...(n.userId && { user: opaque(n.userId) }),
    ...(n.sessionId !== undefined && { session: opaque(n.sessionId) }),
    ...(n.tenant && { tenant: opaque(n.tenant) }),
  };
}

function sessionRevoked(n: SessionRevokedNotice): Record<string, unknown> {
  return {
    event_timestamp: seconds(n.endedAt),
    initiating_entity: n.initiatingEntity,
    ...(n.reason && { reason_admin: { en: n.reason } }),
  };
}

function opaque(id: string): { format: "opaque"; id: string } {
  return { format: "opaque", id };
}

/** A NumericDate: whole seconds since the epoch. */
function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}
