import type { Secret } from "../config/secret.js";
import { streamIdOf, subscriberId } from "../store/outbox-types.js";

/** Where one subscriber's deliveries go, and how. */
export interface Target {
  kind: "ssf" | "webhook";
  endpoint: string;
  /** Sent as the Authorization header's value. */
  authorization?: Secret;
  /** SSF: the SET's `aud`. */
  audience: string | string[];
  /** SSF: `complex` (user, session, tenant) or `opaque` (the user id). */
  subjectFormat: "complex" | "opaque";
  /** Webhook: the Standard Webhooks secret (whsec_...). */
  secret?: Secret;
}

/** The target of a subscriber id (src/store/outbox-types.ts subscriberId); undefined: it is gone (a deleted stream). */
export type TargetResolver = (subscriber: string) => Promise<Target | undefined>;

/** A configured receiver as `notifications.receivers[]` holds it. */
export interface ReceiverSettings {
  name: string;
  kind: "ssf" | "webhook";
  endpoint: string;
  audience?: string;
  authorization?: Secret;
  secret?: Secret;
  subject_format: "complex" | "opaque";
}

const RECEIVER = subscriberId.receiver("");

/** Resolves configured receivers from their settings and streams (ids `stream:<stream_id>`) through `stream`. */
export function targetResolver(receivers: readonly ReceiverSettings[], stream: (streamId: string) => Promise<Target | undefined>): TargetResolver {
  const byId = new Map(receivers.map((r) => [RECEIVER + r.name, receiverTarget(r)]));
  return async (subscriber) => {
    const streamId = streamIdOf(subscriber);
    return streamId === undefined ? byId.get(subscriber) : stream(streamId);
  };
}

/**
 * Whether this process delivers to a subscriber: every stream, and the receivers its own
 * configuration names. A receiver only another replica knows (a configuration being rolled out)
 * is left pending for that replica, never dropped here.
 */
export function servedBy(receivers: readonly ReceiverSettings[]): (subscriber: string) => boolean {
  const ids = new Set(receivers.map((r) => RECEIVER + r.name));
  return (subscriber) => streamIdOf(subscriber) !== undefined || ids.has(subscriber);
}

function receiverTarget(r: ReceiverSettings): Target {
  return {
    kind: r.kind,
    endpoint: r.endpoint,
    audience: r.audience ?? new URL(r.endpoint).origin,
    subjectFormat: r.subject_format,
    ...(r.authorization && { authorization: r.authorization }),
    ...(r.secret && { secret: r.secret }),
  };
}

/** A subscriber's metrics label: a configured receiver's name, or "stream:*" for every stream (receiver names hold no ':'). */
export function receiverLabel(subscriber: string): string {
  return subscriber.startsWith(RECEIVER) ? subscriber.slice(RECEIVER.length) : "stream:*";
}
