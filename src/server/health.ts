import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../gen/grpc/health/v1/health_pb.js";

export { ServingStatus };

/** Serving status per service name; "" stands for the whole server. */
export class HealthStatus {
  private readonly statuses: Map<string, ServingStatus>;
  private readonly listeners = new Set<(service: string) => void>();
  private shuttingDown = false;

  /** Starts with "" and each of `services` SERVING. */
  constructor(services: Iterable<string> = []) {
    this.statuses = new Map(["", ...services].map((s) => [s, ServingStatus.SERVING]));
  }

  get(service: string): ServingStatus | undefined {
    return this.statuses.get(service);
  }

  entries(): IterableIterator<[string, ServingStatus]> {
    return this.statuses.entries();
  }

  set(service: string, status: ServingStatus): void {
    // Like grpc-go: once shutting down, late updates must not flip a service back to SERVING.
    if (this.shuttingDown) return;
    this.update(service, status);
  }

  /** Number of active watch() streams, for metrics and leak checks. */
  get watchers(): number {
    return this.listeners.size;
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const service of [...this.statuses.keys()]) this.update(service, ServingStatus.NOT_SERVING);
  }

  /** Yields the current status, then every change, until `signal` aborts. Intermediate changes may coalesce. */
  async *watch(service: string, signal: AbortSignal): AsyncGenerator<ServingStatus> {
    let changed = false;
    let wake: (() => void) | undefined;
    const listener = (s: string) => {
      if (s !== service) return;
      changed = true;
      wake?.();
    };
    const onAbort = () => wake?.();
    this.listeners.add(listener);
    signal.addEventListener("abort", onAbort);
    try {
      let last = this.watchStatus(service);
      yield last;
      while (!signal.aborted) {
        if (!changed) await new Promise<void>((resolve) => (wake = resolve));
        changed = false;
        wake = undefined;
        const current = this.watchStatus(service);
        if (!signal.aborted && current !== last) yield (last = current);
      }
    } finally {
      this.listeners.delete(listener);
      signal.removeEventListener("abort", onAbort);
    }
  }

  private watchStatus(service: string): ServingStatus {
    return this.statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
  }

  private update(service: string, status: ServingStatus): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const listener of this.listeners) listener(service);
  }
}

/** Registers grpc.health.v1.Health backed by `health`. */
export function healthRoutes(health: HealthStatus, options: Parameters<ConnectRouter["service"]>[2] = {}): (router: ConnectRouter) => void {
  return (router) =>
    router.service(Health, {
      check(req) {
        const status = health.get(req.service);
        if (status === undefined) throw new ConnectError(`unknown service ${req.service}`, Code.NotFound);
        return { status };
      },
      async *watch(req, ctx) {
        for await (const status of health.watch(req.service, ctx.signal)) yield { status };
        // Ended by the deadline (or the caller): say so, rather than end the stream as if with success.
        ctx.signal.throwIfAborted();
      },
      list() {
        const statuses = Object.fromEntries([...health.entries()].map(([service, status]) => [service, { status }]));
        return { statuses };
      },
    }, options);
}
