import { bearer, METRICS_TOKEN } from "./service.js";

/**
 * A Prometheus counter's (or gauge's) value in the service's /metrics at `baseUrl`, summed over the series matching `labels` (0 when absent).
 * The service must be configured with `metrics: METRICS_WITH_TOKEN`.
 */
export async function counterValue(baseUrl: string, name: string, labels: Record<string, string>): Promise<number> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: bearer(METRICS_TOKEN) });
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}: configure the service with metrics: METRICS_WITH_TOKEN`);
  const text = await res.text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split("\n")) {
    // A series without labels (a plain gauge) has no braces.
    const m = /^(\w+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m && m[1] === name && want.every((w) => (m[2] ?? "").split(",").includes(w))) sum += Number(m[3]);
  }
  return sum;
}
