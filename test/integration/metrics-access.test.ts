import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { bearer, METRICS_TOKEN, METRICS_WITH_TOKEN, startTestService, type TestService } from "../helpers/service.js";

/** The service with `metrics:` as given, stopped after its tests. */
function withMetrics(metrics: Record<string, unknown> | undefined): () => TestService {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({}, metrics === undefined ? {} : { metrics });
  });
  afterAll(() => svc.stop());
  return () => svc;
}

const PROMETHEUS = /^# HELP session_control_/m;

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

describe("/metrics with no metrics configuration", () => {
  const svc = withMetrics(undefined);

  it("is not served on the main port, with or without a token", async () => {
    expect((await get(`${svc().baseUrl}/metrics`)).status).toBe(404);
    const withToken = await get(`${svc().baseUrl}/metrics`, bearer(METRICS_TOKEN));
    expect(withToken.status).toBe(404);
    expect(withToken.body).not.toMatch(PROMETHEUS);
    expect(svc().service.metricsServer).toBeUndefined();
  });
});

describe("/metrics behind metrics.bearer_token", () => {
  const svc = withMetrics(METRICS_WITH_TOKEN);

  it("answers 401 with a Bearer challenge without the token", async () => {
    const res = await get(`${svc().baseUrl}/metrics`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="metrics"/);
    expect(res.body).not.toMatch(PROMETHEUS);
  });

  it.each([
    ["a wrong token", `Bearer wrong`],
    ["a wrong token of the same length", `Bearer ${"x".repeat(METRICS_TOKEN.length)}`],
    ["the token with a suffix", `Bearer ${METRICS_TOKEN}x`],
    ["the token as Basic", `Basic ${METRICS_TOKEN}`],
    ["an empty bearer", "Bearer "],
  ])("answers 401 to %s", async (_, authorization) => {
    const res = await get(`${svc().baseUrl}/metrics`, { authorization });
    expect(res.status).toBe(401);
    expect(res.body).not.toMatch(PROMETHEUS);
  });

  it("serves the metrics with the token, and never shows the token", async () => {
    const res = await get(`${svc().baseUrl}/metrics`, bearer(METRICS_TOKEN));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(res.body).toMatch(PROMETHEUS);
    expect(res.body).not.toContain(METRICS_TOKEN);
    expect(svc().logText()).not.toContain(METRICS_TOKEN);
  });

  it("counts refused scrapes as UNAUTHENTICATED", async () => {
    await get(`${svc().baseUrl}/metrics`);
    const res = await get(`${svc().baseUrl}/metrics`, bearer(METRICS_TOKEN));
    expect(res.body).toMatch(/session_control_calls_total\{procedure="\/metrics",code="UNAUTHENTICATED"\} [1-9]/);
  });
});

describe("/metrics on metrics.listen", () => {
  const svc = withMetrics({ listen: "127.0.0.1:0" });
  const metricsUrl = () => `http://127.0.0.1:${svc().service.metricsServer!.port}`;

  it("serves /metrics there, with no token configured, and not on the main port", async () => {
    const res = await get(`${metricsUrl()}/metrics`);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(PROMETHEUS);
    expect((await get(`${svc().baseUrl}/metrics`)).status).toBe(404);
  });

  it("serves nothing else there", async () => {
    expect((await get(`${metricsUrl()}/`)).status).toBe(404);
    const rpc = await fetch(`${metricsUrl()}/grpc.health.v1.Health/Check`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(rpc.status).toBe(404);
    expect(await rpc.text()).not.toContain("SERVING");
    const post = await fetch(`${metricsUrl()}/metrics`, { method: "POST", body: "x" });
    expect(post.status).toBe(404);
  });
});

describe("/metrics on metrics.listen with metrics.bearer_token", () => {
  const svc = withMetrics({ ...METRICS_WITH_TOKEN, listen: "127.0.0.1:0" });
  const metricsUrl = () => `http://127.0.0.1:${svc().service.metricsServer!.port}/metrics`;

  it("needs the token there too, and the main port still does not serve it", async () => {
    expect((await get(metricsUrl())).status).toBe(401);
    expect((await get(metricsUrl(), bearer(METRICS_TOKEN))).status).toBe(200);
    expect((await get(`${svc().baseUrl}/metrics`, bearer(METRICS_TOKEN))).status).toBe(404);
  });
});

describe("the metrics server stops with the service", () => {
  it("refuses connections after stop()", async () => {
    const svc = await startTestService({}, { metrics: { listen: "127.0.0.1:0" } });
    const url = `http://127.0.0.1:${svc.service.metricsServer!.port}/metrics`;
    expect((await get(url)).status).toBe(200);
    await svc.stop();
    await expect(get(url)).rejects.toThrow();
  });
});

describe("metrics: in the configuration", () => {
  const problems = (metrics: unknown) => {
    try {
      parseConfig({ metrics });
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it("takes host:port, IPv6 in brackets", () => {
    expect(parseConfig({ metrics: { listen: "0.0.0.0:9464" } }).metrics.listen).toEqual({ host: "0.0.0.0", port: 9464 });
    expect(parseConfig({ metrics: { listen: "[::1]:9464" } }).metrics.listen).toEqual({ host: "::1", port: 9464 });
  });

  it.each(["9464", "localhost", "127.0.0.1:70000", "::1:9464", "http://127.0.0.1:9464"])("refuses listen %s, naming the key", (listen) => {
    expect(problems({ listen })).toEqual([expect.stringMatching(/^metrics\.listen: must be "host:port"/)]);
  });

  it("refuses a token written as itself", () => {
    expect(problems({ bearer_token: "s3cret" })).toEqual([expect.stringMatching(/^metrics\.bearer_token: must be a reference/)]);
  });
});
