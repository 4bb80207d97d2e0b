import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import type { TLSSocket } from "node:tls";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;
export type RequestHandler = (req: Request, res: Response) => void;

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  /** Connections that send nothing for this long are closed. */
  idleTimeoutMs?: number;
}

export interface OnePortServer {
  readonly port: number;
  readonly tls: boolean;
  /** Stops accepting, lets in-flight calls finish for up to graceMs, then cuts what is left. */
  close(graceMs: number): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** A client must say which protocol it speaks within this time. */
const SNIFF_TIMEOUT_MS = 10_000;

/**
 * gRPC (HTTP/2), gRPC-web and Connect (HTTP/1.1 and HTTP/2) on one port. Plaintext: the first
 * bytes of each connection pick HTTP/2 (the client preface) or HTTP/1.1. TLS: ALPN picks.
 */
export async function listenOnePort(handler: RequestHandler, opts: ListenOptions): Promise<OnePortServer> {
  const sessions = new Set<http2.ServerHttp2Session>();
  const h1Sockets = new Set<net.Socket>();
  // Requests in flight per HTTP/1.1 socket: a socket at 0 can be closed at once on shutdown.
  const inFlight = new Map<net.Socket, number>();
  let closing = false;

  const tracked: RequestHandler = (req, res) => {
    if (req.httpVersionMajor === 1) {
      const socket = req.socket as net.Socket;
      inFlight.set(socket, (inFlight.get(socket) ?? 0) + 1);
      res.once("close", () => inFlight.set(socket, (inFlight.get(socket) ?? 1) - 1));
      // Answered before its body was read (refused early): the rest of that body would be taken
      // for the next request, so the connection ends here.
      res.once("finish", () => {
        if (!(req as http.IncomingMessage).complete) socket.end();
      });
      if (closing) (res as http.ServerResponse).setHeader("connection", "close");
    }
    handler(req, res);
  };
  const addH1 = (socket: net.Socket) => {
    track(h1Sockets, socket);
    socket.once("close", () => inFlight.delete(socket));
  };
  const idle = opts.idleTimeoutMs ?? 120_000;
  const h2Options = { settings: { maxConcurrentStreams: 1000 } };

  let listener: net.Server;
  if (opts.tls) {
    const secure = http2.createSecureServer({ ...h2Options, cert: opts.tls.cert, key: opts.tls.key, allowHTTP1: true }, tracked);
    secure.on("secureConnection", (s: TLSSocket) => {
      if (s.alpnProtocol !== "h2") addH1(s);
    });
    secure.on("session", (s) => track(sessions, s));
    secure.setTimeout(idle);
    listener = secure;
  } else {
    const h2 = http2.createServer(h2Options, tracked);
    h2.on("session", (s) => track(sessions, s));
    h2.setTimeout(idle);
    const h1 = http.createServer({ keepAliveTimeout: 5_000 }, tracked);
    h1.setTimeout(idle);
    // Junk on a connection gets a 400 and costs only that connection.
    h1.on("clientError", (_err: Error, socket: net.Socket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      else socket.destroy();
    });
    listener = net.createServer((socket) =>
      sniff(socket, (isH2) => {
        if (isH2) h2.emit("connection", socket);
        else {
          addH1(socket);
          h1.emit("connection", socket);
          // The HTTP/2 session reads unshifted bytes itself; the HTTP/1.1 parser needs the stream flowing.
          socket.resume();
        }
      }),
    );
  }

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
      for (const s of sessions) s.close();
      const deadline = Date.now() + graceMs;
      while (h1Sockets.size + sessions.size > 0 && Date.now() < deadline) {
        for (const s of h1Sockets) if (!inFlight.get(s)) s.destroy();
        await new Promise((r) => setTimeout(r, 20));
      }
      for (const s of sessions) s.destroy();
      for (const s of h1Sockets) s.destroy();
    },
  };
}

function track<T extends { once(event: "close", fn: () => void): unknown }>(set: Set<T>, item: T): void {
  set.add(item);
  item.once("close", () => set.delete(item));
}

/** Reads until the bytes match the HTTP/2 client preface or cannot, then hands the socket on. */
function sniff(socket: net.Socket, handOff: (isH2: boolean) => void): void {
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
  socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
  socket.on("error", onError);
  socket.on("data", onData);
}
