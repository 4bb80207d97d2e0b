import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RefusalReason } from "../auth/guess-limits.js";
import type { DeliveryObserver } from "../notify/subscriber-loop.js";
import type { AttemptObserver } from "../providers/attempt-observer.js";

/** Prometheus metrics of the service, served at GET /metrics as `metrics:` in the configuration says. */
export class Metrics {
  readonly registry = new Registry();
  private readonly calls = new Counter({
    name: "session_control_calls_total",
    help: "Calls by procedure and resulting code.",
    labelNames: ["procedure", "code"] as const,
    registers: [this.registry],
  });
  private readonly terminations = new Counter({
    name: "session_control_terminations_total",
    help: "Terminate calls by provider and resulting gRPC code.",
    labelNames: ["provider", "code"] as const,
    registers: [this.registry],
  });
  private readonly upstream = new Histogram({
    name: "session_control_upstream_duration_seconds",
    help: "Duration of each upstream attempt by provider, operation and outcome.",
    labelNames: ["provider", "operation", "outcome"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  private readonly refused = new Counter({
    name: "session_control_refused_total",
    help: "Refused guesses by ErrorInfo reason: calls without a known API key or a valid JWT (API_KEY_INVALID, TOKEN_* naming the failed check, TOO_MANY_FAILED_AUTHENTICATIONS), token-bearing calls for a session over its limit (TOO_MANY_WRONG_SESSION_TOKENS).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  private readonly deliveries = new Counter({
    name: "session_control_deliveries_total",
    help: "Delivery attempts of ended-session events by receiver (a configured receiver's name; stream:* for every SSF stream) and the state they left the delivery in (pending: to be retried).",
    labelNames: ["receiver", "state"] as const,
    registers: [this.registry],
  });
  private readonly deliveriesExpired = new Counter({
    name: "session_control_deliveries_expired_total",
    help: "Deliveries given up undelivered at their receiver's max_age_ms.",
    registers: [this.registry],
  });
  private outboxDepthSource: (() => Promise<Map<string, number>>) | undefined;
  private readonly outboxDepth: Gauge<"receiver"> = new Gauge({
    name: "session_control_outbox_depth",
    help: "Pending deliveries by receiver (a configured receiver's name; stream:* for every SSF stream), read at each scrape.",
    labelNames: ["receiver"] as const,
    registers: [this.registry],
    collect: async () => {
      if (!this.outboxDepthSource) return;
      // The store unreachable: the gauge keeps its last values rather than failing the scrape.
      const depth = await this.outboxDepthSource().catch(() => undefined);
      if (!depth) return;
      this.outboxDepth.reset();
      for (const [receiver, n] of depth) this.outboxDepth.set({ receiver }, n);
    },
  });

  private watchesSource: (() => number) | undefined;
  private readonly watches: Gauge = new Gauge({
    name: "session_control_operation_watches",
    help: "WatchOperation streams open now in this process.",
    registers: [this.registry],
    collect: () => {
      if (this.watchesSource) this.watches.set(this.watchesSource());
    },
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: "session_control_" });
  }

  readonly observeCall = (procedure: string, code: string): void => {
    this.calls.inc({ procedure, code });
  };

  readonly observeTermination = (provider: string, code: string): void => {
    this.terminations.inc({ provider, code });
  };

  readonly observeRefusal = (reason: RefusalReason): void => {
    this.refused.inc({ reason });
  };

  readonly observeAttempt: AttemptObserver = (provider, operation, seconds, outcome) => {
    this.upstream.observe({ provider, operation, outcome }, seconds);
  };

  readonly deliveryObserver: DeliveryObserver = {
    outcome: (receiver, state) => this.deliveries.inc({ receiver, state }),
    expired: (count) => this.deliveriesExpired.inc(count),
  };

  /** Where the outbox depth is read at each scrape (the delivery worker's outboxDepth). */
  watchOutboxDepth(source: () => Promise<Map<string, number>>): void {
    this.outboxDepthSource = source;
  }

  /** Where the number of open WatchOperation streams is read at each scrape. */
  watchOperationWatches(source: () => number): void {
    this.watchesSource = source;
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
