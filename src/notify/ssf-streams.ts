import { randomBytes } from "node:crypto";
import { requirePermission, type Principal } from "../auth/principal.js";
import type { StreamRecord, StreamStatus, StreamStore } from "../store/stream-types.js";
import { Failure, invalidArgument, tooManyAttempts, type FieldViolation } from "../status/failure.js";
import { checkTransmitterSupplied, MIN_VERIFICATION_INTERVAL_S, PUSH_DELIVERY, receiverPart, receiverSupplied, requestObject, storedConfig, streamView, type StreamView } from "./stream-config.js";

/** Queues a stream's verification event (SSF 1.0 §8.1.4) for delivery. */
export type QueueVerification = (streamId: string, state: string | undefined) => Promise<void>;

/** A stream's status as answered (SSF 1.0 §8.1.2). */
export interface StatusView {
  stream_id: string;
  status: StreamStatus;
  reason?: string;
}

/** Every stream is written one delivery per ended session: their number is bounded. */
const MAX_STREAMS = 100;
const STATUSES: readonly string[] = ["enabled", "paused", "disabled"] satisfies StreamStatus[];
const MAX_REASON = 1024;

/**
 * SSF stream management (SSF 1.0 §8.1): configuration, status and verification of the streams
 * receivers create. Callers need `ssf.manage`, which reaches every stream. Answers are the
 * spec's JSON; failures are Failure (400 INVALID_ARGUMENT, 403, 404 NOT_FOUND, 409 FAILED_PRECONDITION).
 */
export class SsfStreams {
  constructor(
    private readonly store: StreamStore,
    /** This service's issuer (public_url). */
    private readonly issuer: () => string,
    private readonly queueVerification: QueueVerification,
  ) {}

  /** When each stream last had a verification event queued here (ms): one per min_verification_interval. */
  private readonly verifiedAt = new Map<string, number>();

  async create(caller: Principal, body: unknown): Promise<StreamView> {
    requirePermission(caller, "ssf.manage");
    const request = requestObject(body);
    const violations: FieldViolation[] = [];
    const given = receiverSupplied(request, violations);
    // Without a delivery, SSF 1.0 §8.1.1.1 means poll, which is not served.
    if (request["delivery"] === undefined) violations.push({ field: "delivery", description: `required: only push delivery (${PUSH_DELIVERY}) is supported` });
    if (violations.length > 0 || !given.delivery) throw invalidArgument(violations);
    const now = new Date();
    const stream: StreamRecord = {
      streamId: randomBytes(16).toString("hex"),
      status: "enabled",
      // The audience is the receiver's origin, as for a configured SSF receiver.
      ...storedConfig({ ...given, delivery: given.delivery }, new URL(given.delivery.endpoint_url).origin),
      createdAt: now,
      updatedAt: now,
    };
    if (!(await this.store.createStream(stream, MAX_STREAMS)))
      throw new Failure("FAILED_PRECONDITION", "TOO_MANY_STREAMS", `there are ${MAX_STREAMS} streams already, the most kept: delete one first`);
    return streamView(stream, this.issuer());
  }

  /** One stream, or (no stream_id) every stream. */
  async read(caller: Principal, streamId: string | undefined): Promise<StreamView | StreamView[]> {
    requirePermission(caller, "ssf.manage");
    if (streamId === undefined) return (await this.store.listStreams()).map((s) => streamView(s, this.issuer()));
    return streamView(await this.existing(streamId), this.issuer());
  }

  /** PATCH changes the Receiver-Supplied properties given; PUT (`replace`) sets them all, a missing one deleted. */
  async update(caller: Principal, body: unknown, replace: boolean): Promise<StreamView> {
    requirePermission(caller, "ssf.manage");
    const request = requestObject(body);
    const current = await this.existing(requiredStreamId(request["stream_id"]));
    const violations: FieldViolation[] = [];
    checkTransmitterSupplied(request, streamView(current, this.issuer()), violations);
    const given = receiverSupplied(request, violations);
    if (replace && request["delivery"] === undefined) violations.push({ field: "delivery", description: "required in a replacement" });
    const next = replace ? given : { ...receiverPart(current.config), ...given };
    if (violations.length > 0 || !next.delivery) throw invalidArgument(violations);
    const changed = await this.store.changeStream(current.streamId, storedConfig({ ...next, delivery: next.delivery }, current.config.aud));
    return streamView(changed ?? notFound(), this.issuer());
  }

  /** Deletes a stream; its pending deliveries are dropped. */
  async delete(caller: Principal, streamId: string | undefined): Promise<void> {
    requirePermission(caller, "ssf.manage");
    if (!(await this.store.deleteStream(requiredStreamId(streamId)))) notFound();
  }

  async status(caller: Principal, streamId: string | undefined): Promise<StatusView> {
    requirePermission(caller, "ssf.manage");
    return statusView(await this.existing(requiredStreamId(streamId)));
  }

  /** Enables, pauses (deliveries are kept, not sent) or disables (pending deliveries are dropped) a stream. */
  async setStatus(caller: Principal, body: unknown): Promise<StatusView> {
    requirePermission(caller, "ssf.manage");
    const request = requestObject(body);
    const streamId = requiredStreamId(request["stream_id"]);
    const { status, reason } = request;
    const violations: FieldViolation[] = [];
    if (typeof status !== "string" || !STATUSES.includes(status)) violations.push({ field: "status", description: `must be one of ${STATUSES.join(", ")}` });
    if (reason !== undefined && typeof reason !== "string") violations.push({ field: "reason", description: "must be a string" });
    if (violations.length > 0) throw invalidArgument(violations);
    const changed = await this.store.changeStream(streamId, {
      status: status as StreamStatus,
      ...(typeof reason === "string" && { statusReason: reason.slice(0, MAX_REASON) }),
    });
    return statusView(changed ?? notFound());
  }

  /** Queues a verification event echoing `state` (SSF 1.0 §8.1.4.2); a paused stream holds it until enabled. */
  async verify(caller: Principal, body: unknown): Promise<void> {
    requirePermission(caller, "ssf.manage");
    const request = requestObject(body);
    const stream = await this.existing(requiredStreamId(request["stream_id"]));
    const state = request["state"];
    if (state !== undefined && typeof state !== "string") throw invalidArgument([{ field: "state", description: "must be a string" }]);
    if (stream.status === "disabled") throw new Failure("FAILED_PRECONDITION", "STREAM_DISABLED", "the stream is disabled: it carries no events, verification included");
    this.throttleVerification(stream.streamId);
    await this.queueVerification(stream.streamId, state);
  }

  /** At most one verification event per stream per min_verification_interval (SSF 1.0 §8.1.1: else 429); each replica counts its own. */
  private throttleVerification(streamId: string): void {
    const now = Date.now();
    const intervalMs = MIN_VERIFICATION_INTERVAL_S * 1000;
    for (const [id, at] of this.verifiedAt) if (now - at >= intervalMs) this.verifiedAt.delete(id);
    const last = this.verifiedAt.get(streamId);
    if (last !== undefined) throw tooManyAttempts("VERIFICATION_TOO_FREQUENT", `one verification event per ${MIN_VERIFICATION_INTERVAL_S} s (min_verification_interval): retry later`, last + intervalMs - now);
    this.verifiedAt.set(streamId, now);
  }

  private async existing(streamId: string): Promise<StreamRecord> {
    return (await this.store.getStream(streamId)) ?? notFound();
  }
}

function statusView(s: StreamRecord): StatusView {
  return { stream_id: s.streamId, status: s.status, ...(s.statusReason !== undefined && { reason: s.statusReason }) };
}

function requiredStreamId(value: unknown): string {
  if (typeof value === "string" && value !== "") return value;
  throw invalidArgument([{ field: "stream_id", description: "required: a stream's id" }]);
}

function notFound(): never {
  throw new Failure("NOT_FOUND", "STREAM_NOT_FOUND", "no stream has this stream_id");
}
