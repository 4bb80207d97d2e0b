/** A Prometheus counter's value in the service's /metrics at `baseUrl`, summed over the series matching `labels` (0 when absent). */
export async function counterValue(baseUrl: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^(\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (m && m[1] === name && want.every((w) => m[2]!.split(",").includes(w))) sum += Number(m[3]);
  }
  return sum;
}
