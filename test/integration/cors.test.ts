import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { startTestService, type TestService } from "../helpers/service.js";

/** A preflight for a gRPC-web call, as a browser sends it, and a gRPC-web call itself (no key: UNAUTHENTICATED). */
const preflight = (baseUrl: string, origin: string) =>
  fetch(`${baseUrl}/sessioncontrol.v1.SessionControl/GetSession`, {
    method: "OPTIONS",
    headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type, x-grpc-web, authorization" },
  });
const grpcWebCall = (baseUrl: string, origin: string) =>
  fetch(`${baseUrl}/sessioncontrol.v1.SessionControl/GetSession`, {
    method: "POST",
    headers: { Origin: origin, "Content-Type": "application/grpc-web+proto", "X-Grpc-Web": "1" },
    body: new Uint8Array([0, 0, 0, 0, 0]),
  });

const corsHeaders = (res: Response) => [...res.headers.keys()].filter((k) => k.startsWith("access-control-"));

/** The service with `server.cors_allowed_origins` as given (undefined: the default), stopped after its tests. */
function withOrigins(origins: string[] | undefined): () => TestService {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({}, origins === undefined ? {} : { server: { cors_allowed_origins: origins } });
  });
  afterAll(() => svc.stop());
  return () => svc;
}

describe("CORS by default: no cross-origin access", () => {
  const svc = withOrigins(undefined);

  it.each(["https://app.example", "null", "http://localhost:3000"])("gives %s no CORS headers on a preflight or a call", async (origin) => {
    const pre = await preflight(svc().baseUrl, origin);
    expect(corsHeaders(pre)).toEqual([]);
    const call = await grpcWebCall(svc().baseUrl, origin);
    await call.arrayBuffer();
    expect(corsHeaders(call)).toEqual([]);
  });
});

describe("CORS with listed origins", () => {
  const svc = withOrigins(["https://app.example", "https://admin.example:8443"]);

  it.each(["https://app.example", "https://admin.example:8443"])("allows %s, naming exactly it", async (origin) => {
    const pre = await preflight(svc().baseUrl, origin);
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe(origin);
    expect(pre.headers.get("vary")).toBe("Origin");
    const call = await grpcWebCall(svc().baseUrl, origin);
    await call.arrayBuffer();
    expect(call.headers.get("access-control-allow-origin")).toBe(origin);
    expect(call.headers.get("access-control-expose-headers")).toMatch(/grpc-status/i);
  });

  it.each(["https://evil.example", "https://app.example.evil.example", "http://app.example", "null"])("does not allow %s", async (origin) => {
    const pre = await preflight(svc().baseUrl, origin);
    expect(corsHeaders(pre)).toEqual([]);
    const call = await grpcWebCall(svc().baseUrl, origin);
    await call.arrayBuffer();
    expect(corsHeaders(call)).toEqual([]);
    expect(call.headers.get("vary")).toBe("Origin");
  });
});

describe('CORS with "*" written explicitly', () => {
  const svc = withOrigins(["*"]);

  it("answers * to any origin, never echoing it", async () => {
    const pre = await preflight(svc().baseUrl, "https://anywhere.example");
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    const call = await grpcWebCall(svc().baseUrl, "https://anywhere.example");
    await call.arrayBuffer();
    expect(call.headers.get("access-control-allow-origin")).toBe("*");
    expect(call.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("still gives the origin null nothing", async () => {
    const pre = await preflight(svc().baseUrl, "null");
    expect(corsHeaders(pre)).toEqual([]);
    const call = await grpcWebCall(svc().baseUrl, "null");
    await call.arrayBuffer();
    expect(corsHeaders(call)).toEqual([]);
  });
});

describe("server.cors_allowed_origins in the configuration", () => {
  const problems = (origins: string[]) => {
    try {
      parseConfig({ server: { cors_allowed_origins: origins } });
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  };

  it("defaults to no origins", () => {
    expect(parseConfig({}).server.cors_allowed_origins).toEqual([]);
  });

  it("refuses the origin null, naming the key", () => {
    expect(problems(["https://app.example", "null"])).toEqual([expect.stringMatching(/^server\.cors_allowed_origins\[1\]: the origin null is never allowed/)]);
  });

  it.each(["https://app.example/", "app.example", "https://app.example/path", "*.example"])("refuses %s, which no browser sends as an origin", (origin) => {
    expect(problems([origin])).toEqual([expect.stringMatching(/^server\.cors_allowed_origins\[0\]: must be "\*" or an origin/)]);
  });
});
