import type { Logger } from "pino";
import type { Delivery, DeliveryOutcome, DeliveryState, DeliveryStore } from "../store/outbox-types.js";
import { attempt, type AttemptContext } from "./attempt.js";
import { outcomeOfNoAnswer } from "./classify.js";
import { receiverLabel, type Target, type TargetResolver } from "./targets.js";

/** Counts what deliveries came to: attempts' outcomes per receiver label, and deliveries expired by age. */
export interface DeliveryObserver {
  outcome(receiver: string, state: DeliveryState): void;
  expired(count: number): void;
}

export interface LoopContext {
  store: DeliveryStore;
  targets: TargetResolver;
  workerId: string;
  leaseMs: number;
  concurrency: number;
  attempt: AttemptContext;
  observer: DeliveryObserver;
  log: Logger;
  /** True once the worker stops: no more claims. */
  closing(): boolean;
}

/**
 * One subscriber's deliveries: claims its due ones and keeps up to `concurrency` attempts in flight,
 * claiming more as each ends, until none is due. Each subscriber has its own loop, so a slow or dead
 * receiver holds up only its own deliveries.
 */
export class SubscriberLoop {
  /** Set once the loop has found no more work; a kick then needs a new loop. */
  ending = false;
  readonly done: Promise<void>;
  private kicked = false;
  /** Ends the loop's wait for an attempt: new deliveries go out in free slots while an attempt hangs. */
  private wake: (() => void) | undefined;
  private readonly inFlight = new Map<bigint, Promise<void>>();

  constructor(
    private readonly subscriber: string,
    private readonly ctx: LoopContext,
  ) {
    this.done = this.run();
  }

  /** New deliveries may be due: look again before ending. */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    try {
      while (!this.ctx.closing()) {
        this.kicked = false;
        const free = this.ctx.concurrency - this.inFlight.size;
        if (free > 0) await this.claim(free);
        if (this.inFlight.size === 0 && !this.kicked) break;
        if (this.inFlight.size > 0 && !this.kicked) await Promise.race([...this.inFlight.values(), new Promise<void>((resolve) => (this.wake = resolve))]);
        this.wake = undefined;
      }
    } catch (err) {
      // The store failed: the next poll starts the loop again.
      this.ctx.log.error({ err, subscriber: this.subscriber }, "claiming deliveries failed");
    } finally {
      this.ending = true;
      await Promise.allSettled(this.inFlight.values());
    }
  }

  private async claim(limit: number): Promise<void> {
    const claimed = await this.ctx.store.claimDeliveries(this.subscriber, this.ctx.workerId, this.ctx.leaseMs, limit);
    if (claimed.length === 0) return;
    // Looked up for each batch: a stream may have been changed or deleted meanwhile.
    const target = await this.ctx.targets(this.subscriber);
    for (const d of claimed) {
      // A claim that lapsed while its attempt still runs here may come back: it is not sent twice at once.
      if (this.inFlight.has(d.id)) continue;
      const work = this.deliver(d, target).finally(() => this.inFlight.delete(d.id));
      this.inFlight.set(d.id, work);
    }
  }

  private async deliver(d: Delivery, target: Target | undefined): Promise<void> {
    const outcome = await this.outcome(d, target);
    try {
      await this.ctx.store.completeDelivery(d.id, this.ctx.workerId, outcome);
    } catch (err) {
      // Unrecorded, the claim lapses and the delivery is tried again with the same jti.
      this.ctx.log.error({ err, subscriber: this.subscriber, jti: d.jti }, "recording a delivery's outcome failed");
      return;
    }
    this.ctx.observer.outcome(receiverLabel(this.subscriber), outcome.state);
    const { status, err } = outcome.lastError ?? {};
    const fields = { subscriber: this.subscriber, jti: d.jti, attempts: d.attempts, state: outcome.state, status, err, message: outcome.lastError?.message };
    this.ctx.log[outcome.state === "delivered" ? "debug" : "warn"](fields, "delivery attempt");
  }

  private async outcome(d: Delivery, target: Target | undefined): Promise<DeliveryOutcome> {
    if (!target) return { state: "dropped", lastError: { message: "the subscriber is gone (its stream was deleted)" } };
    try {
      return await attempt(d, target, this.ctx.attempt);
    } catch (err) {
      // Not the receiver's doing (signing failed): tried again later like a receiver's outage.
      this.ctx.log.error({ err, subscriber: this.subscriber, jti: d.jti }, "building a delivery failed");
      return outcomeOfNoAnswer("the event could not be built or signed", d.attempts, this.ctx.attempt.retry);
    }
  }
}
