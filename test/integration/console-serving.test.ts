import http from "node:http";
import http2 from "node:http2";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METRICS_TOKEN, METRICS_WITH_TOKEN, bearer, startTestService, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

/** The console's files as the service serves them, from a stand-in build (the browser tests use the real one). */
const INDEX = '<!doctype html><html lang="en"><head><script type="module" src="/console/assets/app-1.js"></script></head><body><div id="app"></div></body></html>';
const APP = `console.log(${JSON.stringify("x".repeat(4000))});`;
const ORIGIN = "https://app.example";

let dir: string;
let svc: TestService;
let off: TestService;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "console-build-"));
  mkdirSync(join(dir, "assets"));
  writeFileSync(join(dir, "index.html"), INDEX);
  writeFileSync(join(dir, "assets", "app-1.js"), APP);
  writeFileSync(join(dir, ".secret.json"), '{"devDependencies":1}');
  svc = await startTestService({ cors_allowed_origins: [ORIGIN] }, { console: { dir }, metrics: METRICS_WITH_TOKEN });
  off = await startTestService({}, { console: { enabled: false, dir } });
});
afterAll(async () => {
  await Promise.all([svc?.stop(), off?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

/** A request with its path sent exactly as given (fetch would resolve dots first), on its own connection. */
function raw(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; agent?: http.Agent; end?: boolean } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; socket: net.Socket }> {
  return new Promise((done, fail) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      let body = "";
      res.setEncoding("latin1");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => done({ status: res.statusCode ?? 0, headers: res.headers, body, socket: res.socket }));
    });
    req.on("error", fail);
    // end false: the body is written but the request not finished, as a client still sending it.
    if (opts.end === false) req.write(opts.body ?? "");
    else req.end(opts.body);
  });
}

describe("HTTP/1.1 connections", () => {
  it("stay open after bodiless answers (preflight, /metrics, the console) and close after one given with the body unread", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answers = [
        await raw(svc.port, "/sessioncontrol.v1.SessionControl/Terminate", { agent, method: "OPTIONS", headers: { origin: ORIGIN, "access-control-request-method": "POST" } }),
        await raw(svc.port, "/metrics", { agent, headers: bearer(METRICS_TOKEN) }),
        await raw(svc.port, "/metrics", { agent }),
        await raw(svc.port, "/console/", { agent }),
        await raw(svc.port, "/console/assets/app-1.js", { agent, method: "HEAD" }),
      ];
      expect(answers.map((a) => a.status)).toEqual([204, 200, 401, 200, 200]);
      expect(answers.map((a) => a.headers["connection"])).toEqual(Array(answers.length).fill("keep-alive"));
      expect(answers.every((a) => a.socket === answers[0]!.socket)).toBe(true);
      // Refused from its headers, its body still coming: answered at once, and the connection closes.
      const refused = await raw(svc.port, "/sessioncontrol.v1.SessionControl/Terminate", {
        agent,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": "100000" },
        body: "{",
        end: false,
      });
      expect([refused.status, refused.headers["connection"]]).toEqual([401, "close"]);
      const post = await raw(svc.port, "/console/", { agent, method: "POST", body: "x".repeat(10_000) });
      expect([post.status, post.headers["connection"]]).toEqual([405, "close"]);
    } finally {
      agent.destroy();
    }
  });
});

describe("the console at /console", () => {
  it("serves index.html for /console and its paths without a file extension, with the CSP and security headers", async () => {
    for (const path of ["/console", "/console/", "/console/audit", "/console/users/alice%2Fx", "/console/users/a.b", "/console/operations/abc?x=1"]) {
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
    // The gzipped copy is another representation: another ETag, and both vary by Accept-Encoding.
    expect([plain.headers.vary, gz.headers.vary]).toEqual(["accept-encoding", "accept-encoding"]);
    expect(gz.headers.etag).not.toBe(plain.headers.etag);
    expect((await raw(svc.port, "/console/assets/app-1.js", { headers: { "if-none-match": String(plain.headers.etag) } })).status).toBe(304);
    const list = `"other", W/${String(gz.headers.etag)}`;
    const notModified = await raw(svc.port, "/console/assets/app-1.js", { headers: { "if-none-match": list, "accept-encoding": "gzip" } });
    expect([notModified.status, notModified.headers.etag, notModified.body]).toEqual([304, gz.headers.etag, ""]);
    // The gzipped copy's ETag does not stand for the plain one.
    expect((await raw(svc.port, "/console/assets/app-1.js", { headers: { "if-none-match": list } })).status).toBe(200);
    expect((await raw(svc.port, "/console/assets/app-1.js", { headers: { "if-none-match": "*" } })).status).toBe(304);
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
    // A dot file of the build is never read: its address is a page address like any other.
    expect((await raw(svc.port, "/console/.secret.json")).body).toBe(INDEX);
    expect((await raw(svc.port, "/console/assets/nope.js")).status).toBe(404);
  });

  it("answers index.html to every page address that names no file, dotted user ids and malformed percent-encoding included (the console routes it, or says the page is not found); a missing asset is 404", async () => {
    for (const path of ["/console/%E0%A4%A", "/console/%", "/console/users/%C0%AF", "/console/users/alice.smith%40example.com", "/console/favicon.ico"]) {
      const res = await raw(svc.port, path);
      expect([res.status, res.body], path).toEqual([200, INDEX]);
    }
    expect((await raw(svc.port, "/console/assets/%zz.js")).status).toBe(404);
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

  it("HTTP/2: refuses other methods at once without reading their body, resets the stream with NO_ERROR, and serves on", async () => {
    const client = http2.connect(svc.baseUrl);
    try {
      // The POST announces a body and never ends it: answered at once all the same. (Reading any of the
      // body would keep the stream open until the body timeout.)
      const post = client.request({ ":method": "POST", ":path": "/console/", "content-type": "text/plain" });
      post.write("x".repeat(60_000));
      const [status, allow] = await new Promise<[unknown, unknown]>((done, fail) => {
        post.on("response", (h) => done([h[":status"], h["allow"]]));
        post.on("error", fail);
      });
      expect([status, allow]).toEqual([405, "GET, HEAD"]);
      post.resume();
      await until("the stream to be closed", () => post.closed, { timeoutMs: 2_000 });
      expect(post.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
      const get = client.request({ ":path": "/console/assets/app-1.js" });
      const [code] = await once(get, "response");
      get.resume();
      expect((code as http2.IncomingHttpHeaders)[":status"]).toBe(200);
    } finally {
      client.close();
    }
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
