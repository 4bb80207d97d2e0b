import http from "node:http";
import http2 from "node:http2";
import net from "node:net";

/** One answer as it came off the wire. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  trailers: Record<string, string>;
  body: Buffer;
}

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

const TIMEOUT_MS = 10_000;

function flat(h: http.IncomingHttpHeaders | http2.IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(h).flatMap(([k, v]) => (v === undefined ? [] : [[k, Array.isArray(v) ? v.join(", ") : String(v)]])));
}

/** HTTP/1.1 requests on keep-alive connections from `localAddress`. */
export class H1Client {
  private readonly agent: http.Agent;

  constructor(
    private readonly port: number,
    localAddress: string,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 16, localAddress } as http.AgentOptions);
  }

  send(r: RawRequest): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      // Node sends a DELETE's body without saying how long it is unless told.
      const headers = r.body ? { "content-length": String(r.body.length), ...r.headers } : r.headers;
      const req = http.request({ host: "127.0.0.1", port: this.port, method: r.method, path: r.path, headers, agent: this.agent, timeout: TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: flat(res.headers), trailers: flat(res.trailers), body: Buffer.concat(chunks) }));
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
      req.on("error", reject);
      req.end(r.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** HTTP/2 (h2c) requests on one connection from `localAddress`, reopened when the server closes it. */
export class H2Client {
  private session: http2.ClientHttp2Session | undefined;

  constructor(
    private readonly port: number,
    private readonly localAddress: string,
  ) {}

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect(`http://127.0.0.1:${this.port}`, {
      createConnection: () => net.connect({ host: "127.0.0.1", port: this.port, localAddress: this.localAddress }),
    });
    session.on("error", () => {});
    this.session = session;
    return session;
  }

  send(r: RawRequest): Promise<RawAnswer> {
    return new Promise((resolve, reject) => {
      // Node ends GET and DELETE streams at once unless told they carry a body.
      const req = this.connect().request({ ":method": r.method, ":path": r.path, ...r.headers }, { endStream: !r.body });
      let answer: RawAnswer = { status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0) };
      const chunks: Buffer[] = [];
      req.setTimeout(TIMEOUT_MS, () => req.close(http2.constants.NGHTTP2_CANCEL));
      req.on("response", (h) => (answer = { ...answer, status: Number(h[":status"]), headers: flat(h) }));
      req.on("trailers", (h) => (answer.trailers = flat(h)));
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("error", reject);
      req.on("close", () => {
        if (answer.status === 0) reject(new Error(`stream closed without an answer (code ${req.rstCode})`));
        else resolve({ ...answer, body: Buffer.concat(chunks) });
      });
      req.end(r.body);
    });
  }

  close(): void {
    this.session?.destroy();
  }
}
