import type { IncomingHttpHeaders } from "node:http";
import type http from "node:http";
import type http2 from "node:http2";
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import type { Logger } from "pino";
import type { RequestHandler } from "./one-port.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface RpcAdapterOptions extends Partial<ConnectRouterOptions> {
  routes: (router: ConnectRouter) => void;
  fallback: RequestHandler;
  log: Logger;
}

/** Serves one request with the method its path names (the fallback when it names none), with these context values. */
export type RpcHandler = (req: NodeRequest, res: NodeResponse, contextValues: ContextValues) => void;

/**
 * connect-node's adapter (connectNodeAdapter), assembled here for two reasons:
 *
 * - A request message that is not protobuf is the caller's mistake (INVALID_ARGUMENT), where
 *   connect-es would answer INTERNAL.
 * - Cost per call (bench/PROFILE.md). connect-node's universalRequestFromNodeRequest aborts every
 *   request's signal when the request closes, even after a normal answer: a DOMException with a
 *   stack trace per call. It also wraps the body in a down-levelled async generator and builds
 *   a URL object. universalRequest() below is our equivalent without those costs; the signal is
 *   aborted only when the exchange ends before the answer did.
 */
export function rpcAdapter(options: RpcAdapterOptions): RpcHandler {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const routes = new Map(router.handlers.map((h) => [h.requestPath, { handler: h, input: singleInput(h) }]));
  const readMaxBytes = options.readMaxBytes ?? 0xffffffff;
  return (req, res, contextValues) => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const route = routes.get(query < 0 ? url : url.slice(0, query));
    if (!route) return options.fallback(req, res);
    const uReq = universalRequest(req, res, contextValues);
    if (route.input) uReq.body = checkedBody(req, route.input, readMaxBytes);
    route.handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res as never))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code !== Code.Aborted) options.log.warn({ procedure: route.handler.requestPath, err: reason }, "writing the response failed");
      });
  };
}

/** The input schema of methods that read exactly one request message. */
function singleInput(h: UniversalHandler): DescMessage | undefined {
  return h.method.methodKind === "unary" || h.method.methodKind === "server_streaming" ? h.method.input : undefined;
}

/**
 * What connect-node's universalRequestFromNodeRequest makes of a Node.js request, for less:
 * the body is the request stream itself (a Readable is an AsyncIterable of Buffers), the URL a
 * string, and the signal is aborted only when the exchange ends early.
 */
function universalRequest(req: NodeRequest, res: NodeResponse, contextValues: ContextValues): UniversalServerRequest {
  const encrypted = "encrypted" in req.socket && req.socket.encrypted;
  // HTTP/1.1 needs a Host header (Node.js answers 400 without one); HTTP/2 may leave out :authority.
  const authority = ("authority" in req ? req.authority : req.headers.host) || "localhost";
  const controller = new AbortController();
  abortOnEarlyEnd(req, res, controller);
  return {
    httpVersion: req.httpVersion,
    method: req.method ?? "",
    url: `${encrypted ? "https" : "http"}://${authority}${req.url ?? ""}`,
    header: webHeaders(req.headers),
    body: req,
    signal: controller.signal,
    contextValues,
  };
}

/**
 * Aborts the call's signal when the exchange ends before the answer did: the client reset the
 * HTTP/2 stream, or the connection closed first. connect-es aborts the handler's own signal
 * when a call ends anyway, so a normal end needs nothing here.
 */
function abortOnEarlyEnd(req: NodeRequest, res: NodeResponse, controller: AbortController): void {
  if ("stream" in req) {
    req.once("close", () => {
      const rstCode = req.stream.rstCode ?? 0;
      if (rstCode !== 0 || !res.writableFinished) controller.abort(h2ResetError(rstCode));
    });
    return;
  }
  // HTTP/1.1: the request's own 'close' comes as soon as its body is read, so the response's counts.
  const onError = (err: Error) => {
    res.off("close", onClose);
    controller.abort(new ConnectError(err.message, Code.Aborted, undefined, undefined, err));
  };
  const onClose = () => {
    req.off("error", onError);
    if (!res.writableFinished) controller.abort(new ConnectError("the client closed the connection before the answer", Code.Canceled));
  };
  req.once("error", onError);
  res.once("close", onClose);
}

/** connect-node's mapping of HTTP/2 RST_STREAM codes (node-error.ts, not exported); CANCEL and NO_ERROR are Canceled. */
function h2ResetError(rstCode: number): ConnectError {
  const message = `http/2 stream closed with error code 0x${rstCode.toString(16)}`;
  switch (rstCode) {
    case 0x1: // PROTOCOL_ERROR
    case 0x2: // INTERNAL_ERROR
    case 0x3: // FLOW_CONTROL_ERROR
    case 0x4: // SETTINGS_TIMEOUT
    case 0x6: // FRAME_SIZE_ERROR
    case 0x9: // COMPRESSION_ERROR
    case 0xa: // CONNECT_ERROR
      return new ConnectError(message, Code.Internal);
    case 0x7: // REFUSED_STREAM
      return new ConnectError(message, Code.Unavailable);
    case 0xb: // ENHANCE_YOUR_CALM
      return new ConnectError(message, Code.ResourceExhausted);
    case 0xc: // INADEQUATE_SECURITY
    case 0xd: // HTTP_1_1_REQUIRED
      return new ConnectError(message, Code.PermissionDenied);
    default:
      return new ConnectError(rstCode === 0 ? "the client closed the stream before the answer" : message, Code.Canceled);
  }
}

/** Node.js request headers as fetch Headers, without HTTP/2 pseudo-headers (as connect-node's nodeHeaderToWebHeader). */
function webHeaders(nodeHeaders: IncomingHttpHeaders): Headers {
  const header = new Headers();
  for (const key in nodeHeaders) {
    if (key.charCodeAt(0) === 58 /* ":" */) continue;
    const value = nodeHeaders[key];
    if (typeof value === "string") header.append(key, value);
    else if (Array.isArray(value)) for (const v of value) header.append(key, v);
    else if (value !== undefined) header.append(key, String(value));
  }
  return header;
}

const FRAMED = /^application\/grpc(-web)?(\+proto)?(;|$)/;
const BARE = /^application\/proto(;|$)/;

/**
 * The body of a method that reads one message: for uncompressed binary messages (gRPC and
 * gRPC-web frame them in a 5-byte envelope, the Connect protocol sends them bare), read whole
 * and checked to decode; anything else is passed through as it comes.
 */
function checkedBody(req: NodeRequest, schema: DescMessage, limit: number): AsyncIterable<Uint8Array> {
  const contentType = req.headers["content-type"] ?? "";
  const framed = FRAMED.test(contentType);
  // A compressed Connect body is decoded by the framework after decompression; it cannot be checked here.
  const bare = !framed && BARE.test(contentType) && (req.headers["content-encoding"] ?? "identity") === "identity";
  if (!framed && !bare) return req;
  return wholeBody(req, limit, (bytes) => {
    const message = framed ? unframe(bytes) : bytes;
    if (!message) return;
    try {
      fromBinary(schema, message);
    } catch (err) {
      throw new ConnectError(`request message is not valid protobuf: ${(err as Error).message}`, Code.InvalidArgument);
    }
  });
}

/**
 * The request body read with 'data' and 'end' events into one buffer, checked, and handed to the
 * framework as a one-element AsyncIterable. A body over the limit is handed on as it comes (the
 * part read so far, then the rest of the stream), so that the framework's own limit refuses it.
 */
function wholeBody(req: NodeRequest, limit: number, check: (bytes: Uint8Array) => void): AsyncIterable<Uint8Array> {
  const whole = new Promise<Uint8Array | AsyncIterable<Uint8Array>>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > limit + 5) {
        req.pause();
        stop();
        resolve(
          (async function* () {
            yield* chunks;
            yield* req;
          })(),
        );
      }
    };
    const onEnd = () => {
      stop();
      const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      try {
        check(bytes);
        resolve(bytes);
      } catch (err) {
        reject(err);
      }
    };
    const onError = (err: Error) => {
      stop();
      reject(new ConnectError(err.message, Code.Aborted, undefined, undefined, err));
    };
    const onClose = () => {
      stop();
      reject(new ConnectError("the request ended before its body", Code.Canceled));
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("close", onClose);
  });
  // Connect reads the body before it knows whether anyone waits for it; a failure is reported by next().
  whole.catch(() => {});
  let rest: AsyncIterator<Uint8Array> | undefined;
  let done = false;
  const iterator: AsyncIterator<Uint8Array> = {
    async next() {
      if (rest) return rest.next();
      if (done) return { done: true, value: undefined };
      const body = await whole;
      if (body instanceof Uint8Array) {
        done = true;
        return { done: false, value: body };
      }
      rest = body[Symbol.asyncIterator]();
      return rest.next();
    },
    async return(value?: unknown) {
      done = true;
      await rest?.return?.();
      return { done: true, value };
    },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

/** The message of a single uncompressed envelope; undefined when there is none to check. */
function unframe(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length < 5 || bytes[0] !== 0) return undefined;
  const length = ((bytes[1]! << 24) | (bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!) >>> 0;
  return bytes.length === 5 + length ? bytes.subarray(5) : undefined;
}
