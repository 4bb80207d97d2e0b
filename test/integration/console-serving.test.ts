import http from "node:http";
import http2 from "node:http2";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestService, type TestService } from "../helpers/service.js";

/** The console's files as the service serves them, from a stand-in build (the browser tests use the real one). */
const INDEX = '<!doctype html><html lang="en"><head><script type="module" src="/console/assets/app-1.js"></script></head><body><div id="app"></div></body></html>';
const APP = `console.log(${JSON.stringify("x".repeat(4000))});`;

let dir: string;
let svc: TestService;
let off: TestService;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "console-build-"));
  mkdirSync(join(dir, "assets"));
  writeFileSync(join(dir, "index.html"), INDEX);
  writeFileSync(join(dir, "assets", "app-1.js"), APP);
  writeFileSync(join(dir, ".secret.json"), '{"devDependencies":1}');
  svc = await startTestService({}, { console: { dir } });
  off = await startTestService({}, { console: { enabled: false, dir } });
});
afterAll(async () => {
  await Promise.all([svc?.stop(), off?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A request with its path sent exactly as given (fetch would resolve dots first), on its own connection. */
function raw(port: number, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((done, fail) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      let body = "";
      res.setEncoding("latin1");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", fail);
    req.end(opts.body);
  });
}

describe("the console at /console", () => {
  it("serves index.html for /console and its paths without a file extension, with the CSP and security headers", async () => {
    for (const path of ["/console", "/console/", "/console/audit", "/console/users/alice%2Fx", "/console/operations/abc?x=1"]) {
      const res = await raw(svc.port, path);
      expect(res.status, path).toBe(200);
      expect(res.body).toBe(INDEX);
      expect(res.headers["content-type"]).toBe("text/html; charset=utf-8");
      expect(res.headers["cache-control"]).toBe("no-cache");
      const csp = String(res.headers["content-security-policy"]);
      for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"]) expect(csp).toContain(d);
      expect(csp).not.toContain("unsafe-inline");
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["x-frame-options"]).toBe("DENY");
      expect(res.headers["referrer-policy"]).toBe("no-referrer");
    }
  });

  it("serves hashed assets as immutable, gzipped when asked, with an ETag that answers 304, and HEAD without a body", async () => {
    const plain = await raw(svc.port, "/console/assets/app-1.js");
    expect(plain.body).toBe(APP);
    expect(plain.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(plain.headers["cache-control"]).toContain("immutable");
    const gz = await raw(svc.port, "/console/assets/app-1.js", { headers: { "accept-encoding": "gzip" } });
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(Number(gz.headers["content-length"])).toBeLessThan(APP.length);
    expect((await raw(svc.port, "/console/assets/app-1.js", { headers: { "if-none-match": String(plain.headers.etag) } })).status).toBe(304);
    const head = await raw(svc.port, "/console/assets/app-1.js", { method: "HEAD" });
    expect([head.status, head.body, head.headers["content-length"]]).toEqual([200, "", String(APP.length)]);
  });

  it("reaches no file outside the build: dotted, encoded and doubled paths, dot files and unknown assets are 404 or index.html", async () => {
    for (const path of ["/console/../package.json", "/console/assets/../../package.json", "/console/%2e%2e/%2e%2e/package.json", "/console/assets/..%2F..%2F..%2Fpackage.json", "/console//etc/passwd", "/console/.secret.json", "/console/assets/nope.js", "/console/assets/app-1.js%00.html", "/console\\..\\package.json"]) {
      const res = await raw(svc.port, path);
      expect(res.body, path).not.toContain("devDependencies");
      expect(res.body, path).not.toContain("root:");
      if (res.status === 200) expect(res.body, path).toBe(INDEX);
      else expect(res.status, path).toBe(404);
    }
    expect((await raw(svc.port, "/console/.secret.json")).status).toBe(404);
  });

  it("answers GET and HEAD only, and never reads a request body: a GET with one closes its connection, a bodiless one keeps it", async () => {
    const post = await raw(svc.port, "/console/", { method: "POST", body: "x".repeat(10_000) });
    expect([post.status, post.headers["allow"]]).toEqual([405, "GET, HEAD"]);
    const withBody = await raw(svc.port, "/console/", { body: "x".repeat(1000), headers: { "content-length": "1000" } });
    expect([withBody.status, withBody.headers["connection"]]).toEqual([200, "close"]);
    const agent = new http.Agent({ keepAlive: true });
    const bodiless = await raw(svc.port, "/console/", { agent });
    agent.destroy();
    expect(bodiless.headers["connection"]).toBe("keep-alive");
    // A GET announcing a body it never sends: answered at once, not held until the body timeout.
    const answer = await new Promise<string>((done, fail) => {
      const socket = net.connect(svc.port, "127.0.0.1", () => socket.write("GET /console/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"));
      let text = "";
      socket.on("data", (c) => {
        text += String(c);
        if (text.includes(INDEX)) {
          socket.destroy();
          done(text);
        }
      });
      socket.on("error", fail);
    });
    expect(answer).toMatch(/^HTTP\/1.1 200/);
  });

  it("is served over HTTP/2 as well", async () => {
    const client = http2.connect(svc.baseUrl);
    try {
      const body = await new Promise<string>((done, fail) => {
        const req = client.request({ ":path": "/console/audit" });
        let text = "";
        req.setEncoding("utf8");
        req.on("data", (c: string) => (text += c));
        req.on("end", () => done(text));
        req.on("error", fail);
      });
      expect(body).toBe(INDEX);
    } finally {
      client.close();
    }
  });

  it("is not served with console.enabled false, and says how to build it when the build is missing", async () => {
    expect((await raw(off.port, "/console/")).headers["content-security-policy"]).toBeUndefined();
    const missing = await startTestService({}, { console: { dir: join(dir, "nowhere") } });
    try {
      const res = await raw(missing.port, "/console/");
      expect([res.status, res.body]).toEqual([404, "the console is not built on this server (npm run build makes it)\n"]);
      expect(missing.logs.some((l) => l["msg"] === "the console is not served" && l["level"] === 40)).toBe(true);
    } finally {
      await missing.stop();
    }
  });
});
