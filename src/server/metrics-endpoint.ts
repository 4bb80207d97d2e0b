import { createHash, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import type net from "node:net";
import type { Secret } from "../config/secret.js";
import type { Metrics } from "./metrics.js";
import type { RequestHandler } from "./one-port.js";

type Exchange = Parameters<RequestHandler>;

/** The separate metrics server: what it listens on, and how to stop it. */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Answers GET /metrics. With a token, only a caller sending `Authorization: Bearer <token>` gets
 * the metrics; others get 401 with a WWW-Authenticate challenge. Returns the code for the call line.
 */
export function serveMetrics(metrics: Metrics, token: Secret | undefined, ...[req, res]: Exchange): string {
  if (token && !presents(req.headers["authorization"], token)) {
    res.writeHead(401, { "www-authenticate": 'Bearer realm="metrics"', "content-type": "text/plain; charset=utf-8" });
    res.end("GET /metrics needs Authorization: Bearer <metrics.bearer_token>\n");
    return "UNAUTHENTICATED";
  }
  metrics.render().then(
    ({ contentType, body }) => {
      res.writeHead(200, { "content-type": contentType });
      res.end(body);
    },
    // A collector that fails costs this scrape only.
    () => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    },
  );
  return "OK";
}

/** Serves GET /metrics, and nothing else, on its own plain HTTP server (metrics.listen). */
export async function listenMetrics(address: { host: string; port: number }, metrics: Metrics, token: Secret | undefined): Promise<MetricsServer> {
  // A scrape is one small GET: short header and request timeouts keep idle or slow sockets from piling up.
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 10_000 }, (req, res) => {
    req.resume();
    if (req.method === "GET" && (req.url ?? "").split("?", 1)[0] === "/metrics") {
      serveMetrics(metrics, token, req, res);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end("only GET /metrics is served here\n");
  });
  server.maxConnections = 64;
  // once() rejects on an "error" event, e.g. EADDRINUSE.
  await once(server.listen(address.port, address.host), "listening");
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Whether the header carries the token; compared through SHA-256 digests in constant time, so neither length nor content leaks. */
function presents(header: string | undefined, token: Secret): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? "");
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(m?.[1] ?? ""), digest(token.reveal())) && m !== null;
}
