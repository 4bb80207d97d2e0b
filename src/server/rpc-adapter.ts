import type { IncomingHttpHeaders } from "node:http";
import type http from "node:http";
import type http2 from "node:http2";
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import type { Logger } from "pino";
import { codeName } from "../status/code-names.js";
import type { BodyBudget } from "./body-budget.js";
import { callRecordKey } from "./call-log.js";
import type { RequestHandler } from "./one-port.js";
import { checkedBody } from "./request-body.js";
import { answerUnsupportedMediaType } from "./unsupported-media-type.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

export interface RpcAdapterOptions extends Partial<ConnectRouterOptions> {
  routes: (router: ConnectRouter) => void;
  fallback: RequestHandler;
  /** Request bodies held across the process. */
  budget: BodyBudget;
  /** Services anyone may call: their bodies have a budget of their own and a small limit, so they cannot crowd out authenticated calls. */
  publicServices: ReadonlySet<string>;
  publicBudget: BodyBudget;
  publicReadMaxBytes: number;
  log: Logger;
}

/** Serves one request with the method its path names (the fallback when it names none), with these context values. */
export interface RpcHandler {
  (req: NodeRequest, res: NodeResponse, contextValues: ContextValues): void;
  /** The type name of the service serving this path (without query); undefined when none does. */
  serviceOf(path: string): string | undefined;
}

/**
 * connect-node's adapter (connectNodeAdapter), assembled here for two reasons:
 *
 * - Request bodies of one message are read here (request-body.ts): held against the process's
 *   budget, refused over read_max_bytes whatever their content, decompressed, and a message
 *   that is not protobuf is the caller's mistake (INVALID_ARGUMENT), where connect-es would
 *   answer INTERNAL. connect-es's bare 415 says which content types are accepted.
 * - Cost per call (bench/PROFILE.md). connect-node's universalRequestFromNodeRequest aborts every
 *   request's signal when the request closes, even after a normal answer: a DOMException with a
 *   stack trace per call. It also wraps the body in a down-levelled async generator and builds
 *   a URL object. universalRequest() below is our equivalent without those costs; the signal is
 *   aborted only when the exchange ends before the answer did.
 */
export function rpcAdapter(options: RpcAdapterOptions): RpcHandler {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const readMaxBytes = options.readMaxBytes ?? 0xffffffff;
  const routes = new Map(
    router.handlers.map((h) => {
      const isPublic = options.publicServices.has(h.service.typeName);
      const body = { budget: isPublic ? options.publicBudget : options.budget, limit: isPublic ? options.publicReadMaxBytes : readMaxBytes };
      return [h.requestPath, { handler: h, input: singleInput(h), ...body }];
    }),
  );
  const serve = (req: NodeRequest, res: NodeResponse, contextValues: ContextValues) => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const route = routes.get(query < 0 ? url : url.slice(0, query));
    if (!route) return options.fallback(req, res);
    const uReq = universalRequest(req, res, contextValues);
    if (route.input && req.method === "POST") {
      const held = route.budget.holder();
      res.once("close", held.release);
      uReq.body = checkedBody(req, uReq.header, route.input, route.limit, held, (err) => {
        // Refused before any interceptor ran: the call's log line takes the code from here.
        const record = contextValues.get(callRecordKey);
        if (record) record.code = codeName(err.code);
      });
    }
    route.handler(uReq)
      .then((uRes) => (uRes.status === 415 ? answerUnsupportedMediaType(req, res) : universalResponseToNodeResponse(uRes, res as never)))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code !== Code.Aborted) options.log.warn({ procedure: route.handler.requestPath, err: reason }, "writing the response failed");
      });
  };
  return Object.assign(serve, { serviceOf: (path: string) => routes.get(path)?.handler.service.typeName });
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
