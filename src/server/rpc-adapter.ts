import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ConnectRouterOptions, type ContextValues } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import type { Logger } from "pino";
import type { RequestHandler } from "./one-port.js";

type NodeRequest = Parameters<typeof universalRequestFromNodeRequest>[0];

export interface RpcAdapterOptions extends Partial<ConnectRouterOptions> {
  routes: (router: ConnectRouter) => void;
  contextValues: (req: NodeRequest) => ContextValues;
  fallback: RequestHandler;
  log: Logger;
}

/**
 * connect-node's adapter, assembled here so that a request message that is not protobuf is the
 * caller's mistake (INVALID_ARGUMENT), where connect-es would answer INTERNAL.
 */
export function rpcAdapter(options: RpcAdapterOptions): RequestHandler {
  const router = createConnectRouter({ acceptCompression: [compressionGzip, compressionBrotli], ...options });
  options.routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const readMaxBytes = options.readMaxBytes ?? 0xffffffff;
  return (req, res) => {
    const handler = paths.get((req.url ?? "").split("?", 1)[0]!);
    if (!handler) return options.fallback(req, res);
    const uReq = universalRequestFromNodeRequest(req as NodeRequest, res as never, undefined, options.contextValues(req as NodeRequest));
    const input = singleInput(handler);
    if (input && isByteStream(uReq.body)) uReq.body = checkedBinary(uReq.body, input, uReq.header.get("content-type") ?? "", readMaxBytes);
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res as never))
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code !== Code.Aborted) options.log.warn({ procedure: handler.requestPath, err: reason }, "writing the response failed");
      });
  };
}

/** The input schema of methods that read exactly one request message. */
function singleInput(h: UniversalHandler): DescMessage | undefined {
  return h.method.methodKind === "unary" || h.method.methodKind === "server_streaming" ? h.method.input : undefined;
}

function isByteStream(body: unknown): body is AsyncIterable<Uint8Array> {
  return typeof body === "object" && body !== null && Symbol.asyncIterator in body;
}

/**
 * Passes the body through unchanged, after checking that an uncompressed binary message decodes:
 * gRPC and gRPC-web frame it (5-byte envelope), the Connect protocol sends it bare.
 */
async function* checkedBinary(body: AsyncIterable<Uint8Array>, schema: DescMessage, contentType: string, limit: number): AsyncIterable<Uint8Array> {
  const framed = /^application\/grpc(-web)?(\+proto)?(;|$)/.test(contentType);
  const bare = /^application\/proto(;|$)/.test(contentType);
  if (!framed && !bare) return yield* body;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const iterator = body[Symbol.asyncIterator]();
  for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
    chunks.push(r.value);
    size += r.value.length;
    // Too large to be accepted: leave the refusal to the framework's own limit.
    if (size > limit + 5) {
      yield* chunks;
      return yield* { [Symbol.asyncIterator]: () => iterator };
    }
  }
  const bytes = Buffer.concat(chunks);
  const message = framed ? unframe(bytes) : bytes;
  if (message) {
    try {
      fromBinary(schema, message);
    } catch (err) {
      throw new ConnectError(`request message is not valid protobuf: ${(err as Error).message}`, Code.InvalidArgument);
    }
  }
  yield bytes;
}

/** The message of a single uncompressed envelope; undefined when there is none to check. */
function unframe(bytes: Buffer): Uint8Array | undefined {
  if (bytes.length < 5 || bytes[0] !== 0) return undefined;
  const length = bytes.readUInt32BE(1);
  return bytes.length === 5 + length ? bytes.subarray(5) : undefined;
}
