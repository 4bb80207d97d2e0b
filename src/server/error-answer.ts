import type http from "node:http";
import type http2 from "node:http2";
import { ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, endStreamFlag, endStreamToJson, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Answers a call with `error` from its headers alone, without reading its body, in the protocol
 * the caller speaks (connect-es's encoders): gRPC and gRPC-web a trailers-only answer, Connect
 * streaming an end-stream message, Connect unary a JSON error with the code's HTTP status.
 */
export function answerError(req: Request, res: Response, error: ConnectError): void {
  const contentType = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (contentType.startsWith("application/grpc")) {
    const status = new Headers();
    setTrailerStatus(status, error);
    // Headers are set, not written with writeHead, so that over HTTP/2 end() sends them in one
    // HEADERS frame with END_STREAM, as a trailers-only gRPC answer requires.
    res.statusCode = 200;
    res.setHeader("content-type", contentType);
    status.forEach((value, name) => res.setHeader(name, value));
    res.end();
    return;
  }
  if (contentType.startsWith("application/connect+")) {
    const json = Buffer.from(JSON.stringify(endStreamToJson(new Headers(), error, undefined)));
    const envelope = Buffer.alloc(5 + json.length);
    envelope[0] = endStreamFlag;
    envelope.writeUInt32BE(json.length, 1);
    json.copy(envelope, 5);
    res.writeHead(200, { "content-type": contentType, "content-length": envelope.length });
    res.end(envelope);
    return;
  }
  const body = errorToJsonBytes(error, {});
  res.writeHead(codeToHttpStatus(error.code), { "content-type": "application/json", "content-length": body.length });
  res.end(body);
}
