import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { TLSSocket } from "node:tls";
import { EarlyCloseResponse } from "./early-close-response.js";
import { ExpiryList } from "./expiry-list.js";
import { guardSession } from "./h2-session-guard.js";
import { PenaltyBox } from "./penalty-box.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;
export type RequestHandler = (req: Request, res: Response) => void;

/** What one client can hold of the server: connections, streams and time. */
export interface ConnectionLimits {
  /** TCP connections at once; past it new ones are closed at once. */
  maxConnections: number;
  /** HTTP/2 streams at once per connection. */
  maxConcurrentStreams: number;
  /** Time to a request's headers (HTTP/1.1), or from connecting to the first stream (HTTP/2). */
  headerTimeoutMs: number;
  /** Time from a request's headers to the end of its body. */
  bodyTimeoutMs: number;
  /** A connection with nothing in flight for this long is closed. */
  idleTimeoutMs: number;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  limits: ConnectionLimits;
  /**
   * Called on close() when the grace period is over, before what is left is cut: the moment to
   * abort the handlers' shutdown signal, so that calls still in flight end with a status.
   */
  onGraceOver?: () => void;
}

export interface OnePortServer {
  readonly port: number;
  readonly tls: boolean;
  /** Stops accepting, lets in-flight calls finish for up to graceMs, then cuts what is left. */
  close(graceMs: number): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** Largest header block of one request (HTTP/1.1 and HTTP/2 alike). */
const MAX_HEADER_BYTES = 32 * 1024;
/** How long an address's new connections are refused after one of its connections was closed for a frame flood. */
const FLOOD_PENALTY_MS = 10_000;
/** After the grace period and onGraceOver, how long calls get at most to write their end before their connections are cut. */
const LAST_WORDS_MS = 200;

/**
 * Node.js's HTTP/2 bounds, set where its defaults are not enough: concurrent streams and the
 * header block size (so a 1 MB header block is refused). Its defaults are kept for
 * maxSessionMemory (10 MB), maxHeaderListPairs (128), maxSettings (32), maxOutstandingPings
 * (10) and maxSessionRejectedStreams (100); invalid frames close the connection sooner.
 */
function h2Options(limits: ConnectionLimits): http2.ServerOptions {
  return {
    settings: { maxConcurrentStreams: limits.maxConcurrentStreams, maxHeaderListSize: MAX_HEADER_BYTES },
    maxSessionInvalidFrames: 100,
  };
}

/** Node.js's own HTTP/1.1 header and whole-request timeouts, checked often enough for short ones. */
function h1Timeouts(limits: ConnectionLimits) {
  return {
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: limits.headerTimeoutMs + limits.bodyTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(limits.headerTimeoutMs, limits.bodyTimeoutMs) / 4))),
    keepAliveTimeout: Math.min(5_000, limits.idleTimeoutMs),
  };
}

/**
 * gRPC (HTTP/2), gRPC-web and Connect (HTTP/1.1 and HTTP/2) on one port. Plaintext: the first
 * bytes of each connection pick HTTP/2 (the client preface) or HTTP/1.1. TLS: ALPN picks.
 */
export async function listenOnePort(handler: RequestHandler, opts: ListenOptions): Promise<OnePortServer> {
  const { limits } = opts;
  const sessions = new Set<http2.ServerHttp2Session>();
  const h1Sockets = new Set<net.Socket>();
  // Requests in flight per HTTP/1.1 socket: a socket at 0 can be closed at once on shutdown.
  const inFlight = new Map<net.Socket, number>();
  const bodies = new ExpiryList<Request>(limits.bodyTimeoutMs);
  let closing = false;
  const penalties = new PenaltyBox(FLOOD_PENALTY_MS);

  const tracked: RequestHandler = (req, res) => {
    if (req.httpVersionMajor === 1) {
      const socket = req.socket as net.Socket;
      inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
      res.once("close", () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
      if (closing) (res as http.ServerResponse).setHeader("connection", "close");
    }
    timeBody(bodies, req, res);
    handler(req, res);
  };
  const addH1 = (socket: net.Socket) => {
    track(h1Sockets, socket);
    socket.once("close", () => inFlight.delete(socket));
  };
  const addSession = (session: http2.ServerHttp2Session) => {
    track(sessions, session);
    const address = session.socket?.remoteAddress;
    guardSession(session, { ...limits, onFlood: () => penalties.add(address) });
  };

  let listener: net.Server;
  let h1: http.Server | undefined;
  if (opts.tls) {
    const secure = http2.createSecureServer(
      {
        ...h2Options(limits),
        cert: opts.tls.cert,
        key: opts.tls.key,
        allowHTTP1: true,
        Http1ServerResponse: EarlyCloseResponse,
        handshakeTimeout: limits.headerTimeoutMs,
      },
      tracked,
    );
    // The HTTP/1.1 fallback reads these from the server (they are not options of createSecureServer).
    Object.assign(secure, h1Timeouts(limits));
    secure.on("secureConnection", (s: TLSSocket) => {
      if (s.alpnProtocol !== "h2") addH1(s);
    });
    secure.on("session", addSession);
    secure.on("connection", (socket: net.Socket) => {
      if (penalties.holds(socket.remoteAddress)) socket.destroy();
    });
    secure.setTimeout(limits.idleTimeoutMs);
    listener = secure;
  } else {
    const h2 = http2.createServer(h2Options(limits), tracked);
    h2.on("session", addSession);
    h1 = http.createServer({ ...h1Timeouts(limits), maxHeaderSize: MAX_HEADER_BYTES, ServerResponse: EarlyCloseResponse }, tracked);
    h1.setTimeout(limits.idleTimeoutMs);
    // The server gets its connections from the sniffer, not from listen(); 'listening' is what
    // starts Node.js's checks of headersTimeout and requestTimeout.
    h1.emit("listening");
    // Junk on a connection gets a 400 (a timeout a 408) and costs only that connection.
    h1.on("clientError", (err: NodeJS.ErrnoException, socket: net.Socket) => {
      const status = err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else socket.destroy();
    });
    const h1Server = h1;
    listener = net.createServer((socket) =>
      penalties.holds(socket.remoteAddress) ? socket.destroy() : sniff(socket, limits.headerTimeoutMs, (isH2) => {
        if (isH2) h2.emit("connection", socket);
        else {
          addH1(socket);
          h1Server.emit("connection", socket);
          // The HTTP/2 session reads unshifted bytes itself; the HTTP/1.1 parser needs the stream flowing.
          socket.resume();
        }
      }),
    );
  }
  // Counted by the listening server, so HTTP/1.1, HTTP/2 and TLS connections alike; Node.js closes the ones past it.
  listener.maxConnections = limits.maxConnections;

  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(opts.port, opts.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });

  return {
    port: (listener.address() as net.AddressInfo).port,
    tls: opts.tls !== undefined,
    async close(graceMs: number) {
      closing = true;
      listener.close();
      h1?.close();
      for (const s of sessions) s.close();
      const settle = async (deadline: number) => {
        while (h1Sockets.size + sessions.size > 0 && Date.now() < deadline) {
          for (const s of h1Sockets) if (!inFlight.get(s)) s.destroy();
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await settle(Date.now() + graceMs);
      opts.onGraceOver?.();
      await settle(Date.now() + Math.min(graceMs, LAST_WORDS_MS));
      for (const s of sessions) s.destroy();
      for (const s of h1Sockets) s.destroy();
      bodies.stop();
    },
  };
}

/**
 * Bounds the time from a request's headers to the end of its body: past body_timeout_ms an
 * HTTP/2 stream is reset (CANCEL), an HTTP/1.1 connection closed.
 */
function timeBody(bodies: ExpiryList<Request>, req: Request, res: Response): void {
  bodies.add(req, () => {
    if ("stream" in req) {
      if (!req.stream.destroyed) req.stream.close(http2.constants.NGHTTP2_CANCEL);
    } else if (!req.complete) req.socket.destroy();
  });
  const done = () => bodies.delete(req);
  req.once("end", done);
  // An HTTP/1.1 body may still be drained after its answer: its time runs until it ends.
  if ("stream" in req) res.once("close", done);
}

function track<T extends { once(event: "close", fn: () => void): unknown }>(set: Set<T>, item: T): void {
  set.add(item);
  item.once("close", () => set.delete(item));
}

/** Reads until the bytes match the HTTP/2 client preface or cannot, then hands the socket on. */
function sniff(socket: net.Socket, timeoutMs: number, handOff: (isH2: boolean) => void): void {
  let seen: Buffer = Buffer.alloc(0);
  const onError = () => socket.destroy();
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const isH2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (isH2 && seen.length < PREFACE.length) return;
    socket.off("data", onData);
    socket.off("error", onError);
    socket.setTimeout(0);
    socket.pause();
    socket.unshift(seen);
    handOff(isH2);
  };
  // A client must say which protocol it speaks within the header timeout.
  socket.setTimeout(timeoutMs, () => socket.destroy());
  socket.on("error", onError);
  socket.on("data", onData);
}
