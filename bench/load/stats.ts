/** Latency summary of one run, milliseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of latencies given in nanoseconds. */
export function summarize(latenciesNs: Float64Array): LatencySummary {
  const sorted = Float64Array.from(latenciesNs).sort();
  const n = sorted.length;
  if (n === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const at = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]! / 1e6;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { p50: at(50), p90: at(90), p99: at(99), max: sorted[n - 1]! / 1e6, mean: sum / n / 1e6 };
}
