import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** What an HTTP fake answers to one request. */
export interface FakeAnswer {
  /** HTTP status; default 200. */
  status?: number;
  /** Sent as JSON; ignored when `raw` is given. */
  body?: unknown;
  /** Sent as it is: a seed's JSON verbatim, plain text, half a document. */
  raw?: string;
  /** Waits this long before answering. */
  delayMs?: number;
  /** Sends the head and half the body, then destroys the socket. */
  resetMidAnswer?: boolean;
  /** Headers sent besides content-type and content-length. */
  headers?: Record<string, string>;
}

/** One request as an HTTP fake received it, with the answer it gave. */
export interface RecordedRequest {
  method: string;
  /** The request target exactly as it arrived: path and query, still percent-encoded. */
  path: string;
  pathname: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  body: unknown;
  /** The body's form fields, when it is a form. */
  form: Record<string, string> | undefined;
  remotePort: number;
  /** When it arrived (ms since the epoch). */
  receivedAt: number;
  /** True when the client went away before the answer was complete. */
  aborted: boolean;
  /** What the fake answered; undefined until it answered. */
  answer?: { status: number; text: string };
}

/**
 * An HTTP/1.1 upstream on 127.0.0.1, port 0: every connection and request recorded, each request
 * answered as `answerTo` says (late, or cut off mid-answer when the answer asks for it).
 */
export abstract class HttpFake {
  readonly requests: RecordedRequest[] = [];
  /** Remote ports of the connections the fake accepted, in order. */
  readonly connectionPorts: number[] = [];
  private readonly server = createServer((req, res) => this.receive(req, res));
  private readonly sockets = new Set<Socket>();
  private readonly abortWaiters: (() => void)[] = [];

  /** `jsonIndent`: the spaces JSON answers are indented by, as the upstream sends them. */
  protected constructor(private readonly jsonIndent = 0) {
    this.server.on("connection", (socket) => {
      this.connectionPorts.push(socket.remotePort!);
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves when a request is aborted by the client, or rejects after `timeoutMs`. */
  nextAbort(timeoutMs = 5_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no request aborted within ${timeoutMs} ms`)), timeoutMs);
      this.abortWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Connections to the fake that are open now. */
  openConnections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** What the fake answers to this request. */
  protected abstract answerTo(r: RecordedRequest): FakeAnswer;

  /** Listens on 127.0.0.1 at `port` (0: any free port). */
  protected async listen(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(port, "127.0.0.1", resolve));
    return this;
  }

  /** Forgets requests and connections. */
  protected forget(): void {
    this.requests.length = 0;
    this.connectionPorts.length = 0;
  }

  private receive(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const url = new URL(req.url!, "http://fake");
      const isForm = (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
      const recorded: RecordedRequest = {
        method: req.method!,
        path: req.url!,
        pathname: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        text,
        body: parseJson(text),
        form: isForm ? Object.fromEntries(new URLSearchParams(text)) : undefined,
        remotePort: req.socket.remotePort!,
        receivedAt: Date.now(),
        aborted: false,
      };
      this.requests.push(recorded);
      this.send(recorded, res, this.answerTo(recorded));
    });
  }

  private send(recorded: RecordedRequest, res: ServerResponse, a: FakeAnswer): void {
    const status = a.status ?? 200;
    const text = a.raw ?? JSON.stringify(a.body ?? null, null, this.jsonIndent);
    const write = () => {
      recorded.answer = { status, text };
      res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), ...a.headers });
      if (a.resetMidAnswer) res.write(text.slice(0, Math.floor(text.length / 2)), () => res.socket?.destroy());
      else res.end(text);
    };
    const timer = setTimeout(write, a.delayMs ?? 0);
    res.on("close", () => {
      if (res.writableFinished) return;
      clearTimeout(timer);
      if (a.resetMidAnswer) return;
      recorded.aborted = true;
      for (const wake of this.abortWaiters.splice(0)) wake();
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
