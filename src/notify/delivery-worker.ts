import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { DeliveryStore } from "../store/outbox-types.js";
import type { RetrySettings } from "./classify.js";
import { ReceiverHttp } from "./post.js";
import type { SetSigner } from "./set-signer.js";
import { SubscriberLoop, type DeliveryObserver } from "./subscriber-loop.js";
import { receiverLabel, type TargetResolver } from "./targets.js";

/** notifications.* of the configuration. */
export interface DeliverySettings extends RetrySettings {
  /** How often the outbox is looked at for due deliveries (other replicas', retries). */
  pollMs: number;
  /** How long a claim on a delivery holds. */
  leaseMs: number;
  requestTimeoutMs: number;
  /** Attempts in flight to one subscriber at once. */
  concurrencyPerReceiver: number;
}

export interface DeliveryWorkerDeps {
  store: DeliveryStore;
  /** Where each subscriber's deliveries go (configured receivers and SSF streams). */
  targets: TargetResolver;
  /** The subscribers this process delivers to (targets.ts servedBy). */
  serves: (subscriber: string) => boolean;
  signer: SetSigner;
  /** The SETs' `iss` (public_url). */
  issuer: string;
  settings: DeliverySettings;
  observer: DeliveryObserver;
  log: Logger;
}

/**
 * Delivers the outbox: one loop per subscriber with due deliveries, started by a kick (the store's
 * hook after a commit that queued deliveries) or by the poll (other replicas' work, retries now due,
 * work left by a stopped process), which also gives up deliveries past their age.
 */
export class DeliveryWorker {
  readonly workerId = `delivery-${randomUUID()}`;
  private readonly loops = new Map<string, SubscriberLoop>();
  private readonly http = new ReceiverHttp();
  /** Aborted once stop()'s grace is over: attempts still in flight are cut short. */
  private readonly cut = new AbortController();
  private closed = false;
  private stopped: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(private readonly deps: DeliveryWorkerDeps) {}

  /** Polls at once, then every pollMs. */
  start(): void {
    const tick = () => {
      this.polling = this.poll().finally(() => {
        this.polling = undefined;
        if (!this.closed) this.timer = setTimeout(tick, this.deps.settings.pollMs);
      });
    };
    tick();
  }

  /** These subscribers have new deliveries: send them now. */
  kick(subscribers: Iterable<string>): void {
    if (this.closed) return;
    for (const subscriber of subscribers) {
      if (!this.deps.serves(subscriber)) continue;
      const loop = this.loops.get(subscriber);
      if (loop && !loop.ending) loop.kick();
      else this.startLoop(subscriber);
    }
  }

  /** Pending deliveries per receiver label (streams counted together): the outbox depth. */
  async outboxDepth(): Promise<Map<string, number>> {
    const depth = new Map<string, number>();
    for (const [subscriber, n] of await this.deps.store.pendingCounts()) {
      const label = receiverLabel(subscriber);
      depth.set(label, (depth.get(label) ?? 0) + n);
    }
    return depth;
  }

  /** Stops claiming; attempts in flight may finish within graceMs, then are cut short (and tried again at the next start). */
  stop(graceMs: number): Promise<void> {
    this.stopped ??= this.shutdown(graceMs);
    return this.stopped;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.polling;
    const cutAfterGrace = setTimeout(() => this.cut.abort(), graceMs);
    await Promise.all([...this.loops.values()].map((l) => l.done));
    clearTimeout(cutAfterGrace);
    await this.http.close();
  }

  private startLoop(subscriber: string): void {
    const { store, targets, signer, issuer, settings, observer, log } = this.deps;
    const loop = new SubscriberLoop(subscriber, {
      store,
      targets,
      workerId: this.workerId,
      leaseMs: settings.leaseMs,
      concurrency: settings.concurrencyPerReceiver,
      attempt: { http: this.http, signer, issuer, requestTimeoutMs: settings.requestTimeoutMs, retry: settings, stopping: this.cut.signal },
      observer,
      log,
      closing: () => this.closed,
    });
    this.loops.set(subscriber, loop);
    void loop.done.then(() => {
      if (this.loops.get(subscriber) === loop) this.loops.delete(subscriber);
    });
  }

  private async poll(): Promise<void> {
    try {
      const expired = await this.deps.store.expireDeliveries(new Date());
      if (expired > 0) {
        this.deps.observer.expired(expired);
        this.deps.log.warn({ deliveries: expired }, "deliveries expired undelivered");
      }
      this.kick(await this.deps.store.dueSubscribers());
    } catch (err) {
      this.deps.log.error({ err }, "looking for due deliveries failed");
    }
  }
}
