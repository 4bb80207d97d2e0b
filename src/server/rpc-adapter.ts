import type http from "node:http";
import type http2 from "node:http2";
import type { DescMessage } from "@bufbuild/protobuf";
import { createContextValues, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { codeName } from "../status/code-names.js";
import type { BodyBudget } from "./body-budget.js";
import { callRecordKey } from "./call-log.js";
import type { RequestHandler } from "./one-port.js";
import { checkedBody } from "./request-body.js";
import { answerUnsupportedMediaType } from "./unsupported-media-type.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;
type MethodHandler = ConnectRouter["handlers"][number];

export interface RpcAdapterOptions extends Partial<ConnectRouterOptions> {
  routes: (router: ConnectRouter) => void;
  fallback: RequestHandler;
  /** Request bodies held across the process. */
  budget: BodyBudget;
  /** Services anyone may call: their bodies have a budget of their own and a small limit, so they cannot crowd out authenticated calls. */
  publicServices: ReadonlySet<string>;
  publicBudget: BodyBudget;
  publicReadMaxBytes: number;
}

/** Serves one request with the method its path names (the fallback when it names none), with these context values. */
export interface RpcHandler {
  (req: NodeRequest, res: NodeResponse, contextValues: ContextValues): void;
  /** The type name of the service serving this path (without query); undefined when none does. */
  serviceOf(path: string): string | undefined;
}

/**
 * connect-node's own adapter (connectNodeAdapter), with what the service adds in front of it:
 *
 * - The call's context values (principal, call record), given by the caller of this handler
 *   after authentication, reach connect-es through the adapter's contextValues(req).
 * - Request bodies of one message are read by request-body.ts: held against the process's
 *   budget, refused over read_max_bytes whatever their content, decompressed, and a message
 *   that is not protobuf is the caller's mistake (INVALID_ARGUMENT), where connect-es would
 *   answer INTERNAL. The adapter reads the request as an AsyncIterable; the checked body is
 *   that iterable.
 * - A content type no protocol of the method takes is answered 415 naming the accepted ones
 *   (connect-es's own 415 has no body).
 */
export function rpcAdapter(options: RpcAdapterOptions): RpcHandler {
  const readMaxBytes = options.readMaxBytes ?? 0xffffffff;
  const routes = new Map<string, { handler: MethodHandler; input: DescMessage | undefined; budget: BodyBudget; limit: number }>();
  const valuesOf = new WeakMap<NodeRequest, ContextValues>();
  const { routes: register, fallback, budget, publicServices, publicBudget, publicReadMaxBytes, ...routerOptions } = options;
  const adapter = connectNodeAdapter({
    ...routerOptions,
    routes(router) {
      register(router);
      for (const h of router.handlers) {
        const isPublic = publicServices.has(h.service.typeName);
        const body = { budget: isPublic ? publicBudget : budget, limit: isPublic ? publicReadMaxBytes : readMaxBytes };
        routes.set(h.requestPath, { handler: h, input: singleInput(h), ...body });
      }
    },
    contextValues: (req) => valuesOf.get(req) ?? createContextValues(),
  });
  const serve = (req: NodeRequest, res: NodeResponse, contextValues: ContextValues) => {
    const url = req.url ?? "";
    const query = url.indexOf("?");
    const route = routes.get(query < 0 ? url : url.slice(0, query));
    if (!route) return fallback(req, res);
    // A stream the client reset before it was served (rapid reset): nothing to answer, no call to build.
    if ("stream" in req && req.stream.destroyed) return;
    if (refusesContentType(route.handler, req)) return answerUnsupportedMediaType(req, res);
    valuesOf.set(req, contextValues);
    // HTTP/2 may leave out :authority (and Host); connect-node would throw for want of one.
    if (req.headers[":authority"] === undefined && req.headers.host === undefined) req.headers.host = "localhost";
    if (route.input && req.method === "POST") {
      const held = route.budget.holder();
      res.once("close", held.release);
      const body = checkedBody(req, route.input, route.limit, held, (err) => {
        // Refused before any interceptor ran: the call's log line takes the code from here.
        const record = contextValues.get(callRecordKey);
        if (record) record.code = codeName(err.code);
      });
      // connect-node reads the request as an AsyncIterable of chunks: it reads the checked body instead.
      Object.defineProperty(req, Symbol.asyncIterator, { value: () => body[Symbol.asyncIterator](), configurable: true });
    }
    adapter(req, res);
  };
  return Object.assign(serve, { serviceOf: (path: string) => routes.get(path)?.handler.service.typeName });
}

/** The input schema of methods that read exactly one request message. */
function singleInput(h: MethodHandler): DescMessage | undefined {
  return h.method.methodKind === "unary" || h.method.methodKind === "server_streaming" ? h.method.input : undefined;
}

/**
 * Whether connect-es would answer 415: no protocol that takes the request's HTTP method takes
 * its content type (as its protocol negotiation; a GET, which only Connect takes, needs none).
 */
function refusesContentType(h: MethodHandler, req: NodeRequest): boolean {
  const method = req.method ?? "";
  if (!h.allowedMethods.includes(method)) return false;
  const contentType = req.headers["content-type"] ?? "";
  if (method === "GET" && contentType === "") return false;
  return !h.supportedContentType(contentType);
}
