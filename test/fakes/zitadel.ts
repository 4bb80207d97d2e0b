import * as http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextKey, createContextValues, type HandlerContext } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { ErrorDetailSchema } from "@zitadel/proto/zitadel/message_pb.js";
import {
  DeleteSessionResponseSchema,
  ListSessionsResponseSchema,
  SessionService,
  type DeleteSessionRequest,
  type ListSessionsRequest,
} from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";

/** An error as Zitadel's REST surface shows it (seed 001); the fake sends it as a gRPC/Connect status. */
export interface ZitadelErrorBody {
  code: number;
  message: string;
  /** `type.googleapis.com/zitadel.v1.ErrorDetail` entries carry {id, message}; other types are sent empty. */
  details?: ({ "@type": string } & Record<string, unknown>)[];
}

/** What the fake answers to one call. */
export interface FakeAnswer<O extends DescMessage> {
  /** Wait this long first (the call's own cancellation cuts the wait short). */
  delayMs?: number;
  response?: MessageInitShape<O>;
  error?: ZitadelErrorBody;
  /** Send the response headers and part of a message, then destroy the TCP connection. */
  destroySocket?: boolean;
}

type Answerer<I, O extends DescMessage> = FakeAnswer<O> | ((req: I, call: RecordedCall) => FakeAnswer<O>);

/** One call as the fake received it. */
export interface RecordedCall {
  /** "DeleteSession" or "ListSessions". */
  method: string;
  /** The request path, e.g. /zitadel.session.v2.SessionService/DeleteSession. */
  path: string;
  httpMethod: string;
  /** "grpc" or "connect". */
  protocol: string;
  /** Request headers, lower-case names. */
  headers: Record<string, string>;
  request: DeleteSessionRequest | ListSessionsRequest;
  /** Whether the client gave up on the call (cancelled it, or the connection dropped) before the answer was due. */
  aborted: boolean;
}

const ERROR_DETAIL_TYPE = "type.googleapis.com/zitadel.v1.ErrorDetail";
/** The HTTP/2 stream of a call, for the fault that destroys the connection mid-answer. */
const streamKey = createContextKey<http2.ServerHttp2Stream | undefined>(undefined);

/**
 * A Zitadel SessionService on 127.0.0.1 (HTTP/2 cleartext, port 0) speaking gRPC and Connect with
 * Zitadel's own messages. It records every call and answers what the test programs.
 */
export class FakeZitadel {
  readonly calls: RecordedCall[] = [];
  /** HTTP/2 connections accepted since start. */
  connections = 0;
  deleteSession: Answerer<DeleteSessionRequest, typeof DeleteSessionResponseSchema> = { response: {} };
  listSessions: Answerer<ListSessionsRequest, typeof ListSessionsResponseSchema> = { response: {} };
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: http2.Http2Server) {}

  static async start(): Promise<FakeZitadel> {
    let fake!: FakeZitadel;
    const handler = connectNodeAdapter({
      routes: (router) =>
        router.service(SessionService, {
          deleteSession: (req, ctx) => fake.answer("DeleteSession", req, ctx, fake.deleteSession, DeleteSessionResponseSchema),
          listSessions: (req, ctx) => fake.answer("ListSessions", req, ctx, fake.listSessions, ListSessionsResponseSchema),
        }),
      contextValues: (req) => createContextValues().set(streamKey, (req as http2.Http2ServerRequest).stream),
    });
    const server = http2.createServer(handler);
    fake = new FakeZitadel(server);
    server.on("session", () => fake.connections++);
    server.on("connection", (socket: Socket) => {
      fake.sockets.add(socket);
      socket.on("close", () => fake.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Calls of one method, in order. */
  callsOf(method: "DeleteSession" | "ListSessions"): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  reset(): void {
    this.calls.length = 0;
    this.deleteSession = { response: {} };
    this.listSessions = { response: {} };
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer<I extends DeleteSessionRequest | ListSessionsRequest, O extends DescMessage>(
    method: string,
    req: I,
    ctx: HandlerContext,
    answerer: Answerer<I, O>,
    schema: O,
  ): Promise<MessageShape<O>> {
    const call: RecordedCall = {
      method,
      path: new URL(ctx.url).pathname,
      httpMethod: ctx.requestMethod,
      protocol: ctx.protocolName,
      headers: Object.fromEntries(ctx.requestHeader.entries()),
      request: req,
      aborted: false,
    };
    this.calls.push(call);
    const a = typeof answerer === "function" ? answerer(req, call) : answerer;
    if (a.delayMs) await sleep(a.delayMs, ctx.signal);
    call.aborted = ctx.signal.aborted;
    if (a.destroySocket) return this.destroyMidAnswer(ctx);
    if (a.error) throw connectErrorOf(a.error);
    return create(schema, a.response);
  }

  private destroyMidAnswer(ctx: HandlerContext): Promise<never> {
    const stream = ctx.values.get(streamKey)!;
    stream.respond({ ":status": 200, "content-type": ctx.requestHeader.get("content-type") ?? "application/grpc" });
    // A gRPC frame header announcing 64 bytes, followed by 3 of them.
    stream.write(Buffer.from([0, 0, 0, 0, 64, 10, 2, 8]));
    // The session's socket is a guarded proxy: destroy the real TCP socket behind it.
    const port = stream.session?.socket.remotePort;
    setTimeout(() => [...this.sockets].find((s) => s.remotePort === port)?.destroy(), 20);
    return new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(new ConnectError("connection destroyed", Code.Aborted)), { once: true }));
  }
}

/** The status Zitadel sends for an error body: code, message, and the ErrorDetail among the details. */
export function connectErrorOf(body: ZitadelErrorBody): ConnectError {
  const err = new ConnectError(body.message, body.code as Code);
  for (const d of body.details ?? []) {
    err.details.push(
      d["@type"] === ERROR_DETAIL_TYPE
        ? { desc: ErrorDetailSchema, value: { id: String(d["id"] ?? ""), message: String(d["message"] ?? "") } }
        : { type: d["@type"].replace(/^type\.googleapis\.com\//, ""), value: new Uint8Array() },
    );
  }
  return err;
}

/** Zitadel's error for a failed command: message "<key> (<id>)" and an ErrorDetail{id, key}. */
export function zitadelError(code: Code, id: string, key: string): ZitadelErrorBody {
  return { code, message: `${key} (${id})`, details: [{ "@type": ERROR_DETAIL_TYPE, id, message: key }] };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
