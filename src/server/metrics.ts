import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
import type { RefusalReason } from "../auth/guess-limits.js";
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
    help: "Refused guesses by ErrorInfo reason: calls without a known API key (API_KEY_INVALID, TOO_MANY_FAILED_AUTHENTICATIONS), token-bearing calls for a session over its limit (TOO_MANY_WRONG_SESSION_TOKENS).",
    labelNames: ["reason"] as const,
    registers: [this.registry],
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

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
