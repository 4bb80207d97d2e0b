import type { RunResult } from "./measure.js";
import type { ScenarioContext } from "./scenarios/context.js";

/** One provider measured against its fake upstream with a given injected latency. */
export interface ProviderRun {
  provider: string;
  upstreamLatencyMs: number;
  /** The service's own time per call: latency minus the upstream's own time, ms. */
  overheadP50Ms: number;
  overheadP99Ms: number;
  /** Connections the fake upstream saw during the run (pooling must keep this small). */
  upstreamConnections: number;
  result: RunResult;
}

export interface ProvidersSection {
  /** "pending" until the provider backends and their fake upstreams exist. */
  status: "measured" | "pending";
  note: string;
  runs: ProviderRun[];
}

/**
 * HOOK for issue 4, item 4 (providers): Terminate through each configured provider against its
 * fake upstream with 0 ms and 20 ms injected latency, reporting the service's overhead over the
 * upstream's own time (targets: p50 <= 1 ms, p99 <= 5 ms) and the upstream connections used.
 * Fill this in when the adapters in src/providers/ and their fake upstreams are done; the report
 * already prints the section and the targets from what this returns.
 */
export async function runProviderBenchmarks(_ctx: ScenarioContext): Promise<ProvidersSection> {
  return { status: "pending", note: "provider benchmarks are not written yet (issue 4, item 4)", runs: [] };
}
