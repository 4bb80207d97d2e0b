import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** What the fake answers to one request. */
export interface FakeAnswer {
  /** HTTP status; default 200. */
  status?: number;
  /** Sent as JSON; ignored when `raw` is given. */
  body?: unknown;
  /** Sent as it is, e.g. a seed's JSON verbatim or something that is not JSON. */
  raw?: string;
  /** Waits this long before answering. */
  delayMs?: number;
  /** Sends the head and half the body, then destroys the socket. */
  resetMidAnswer?: boolean;
}

/** One request as the fake received it. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  body: unknown;
  remotePort: number;
  /** True when the client went away before the answer was complete. */
  aborted: boolean;
}

/** Seed 000's successful answer, as the fake gives it unless told otherwise. */
export const SUCCESS: FakeAnswer = { body: { error: 0, description: "Success" } };

/**
 * A LuckyMonaco casino API on 127.0.0.1, port 0: `POST /V4/CloseSession` answered as the test
 * programs it (once, or from now on), every request and connection recorded.
 */
export class FakeLuckyMonaco {
  readonly requests: RecordedRequest[] = [];
  /** Remote ports of the connections the fake accepted, in order. */
  readonly connectionPorts: number[] = [];
  private readonly queue: FakeAnswer[] = [];
  private standing: FakeAnswer = SUCCESS;
  private readonly sockets = new Set<Socket>();
  private readonly abortWaiters: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<FakeLuckyMonaco> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const fake = new FakeLuckyMonaco(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on("connection", (socket) => {
      fake.connectionPorts.push(socket.remotePort!);
      fake.sockets.add(socket);
      socket.on("close", () => fake.sockets.delete(socket));
    });
    server.on("request", (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const recorded: RecordedRequest = { method: req.method!, path: req.url!, headers: req.headers, text, body: parseJson(text), remotePort: req.socket.remotePort!, aborted: false };
        fake.requests.push(recorded);
        fake.answer(recorded, res, fake.queue.shift() ?? fake.standing);
      });
    });
    return fake;
  }

  /** The next answers, one per request, before the standing one resumes. */
  answerOnce(...answers: FakeAnswer[]): void {
    this.queue.push(...answers);
  }

  /** The answer to every request from now on (after those queued). */
  answerAlways(answer: FakeAnswer): void {
    this.standing = answer;
  }

  /** Forgets requests, connections and programmed answers; the standing answer is success again. */
  reset(): void {
    this.requests.length = 0;
    this.connectionPorts.length = 0;
    this.queue.length = 0;
    this.standing = SUCCESS;
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

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private answer(recorded: RecordedRequest, res: ServerResponse, a: FakeAnswer): void {
    const send = () => {
      const text = a.raw ?? JSON.stringify(a.body ?? null);
      res.writeHead(a.status ?? 200, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
      if (!a.resetMidAnswer) {
        res.end(text);
        return;
      }
      res.write(text.slice(0, Math.floor(text.length / 2)), () => res.socket?.destroy());
    };
    const timer = setTimeout(send, a.delayMs ?? 0);
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
