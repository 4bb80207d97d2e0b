import type http from "node:http";
import type http2 from "node:http2";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** The content types the RPC routes accept (those connect-es's gRPC, gRPC-web and Connect handlers take). */
export const ACCEPTED_CONTENT_TYPES = [
  "application/grpc",
  "application/grpc+proto",
  "application/grpc+json",
  "application/grpc-web",
  "application/grpc-web+proto",
  "application/grpc-web+json",
  "application/proto",
  "application/json",
  "application/connect+proto",
  "application/connect+json",
];

/** HTTP 415 that says which content types are accepted, in its body and in `Accept-Post`. */
export function answerUnsupportedMediaType(req: Request, res: Response): void {
  const sent = req.headers["content-type"];
  const body = `${sent ? `unsupported content type "${sent}"` : "missing content type"}: send one of ${ACCEPTED_CONTENT_TYPES.join(", ")}\n`;
  res.writeHead(415, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "accept-post": ACCEPTED_CONTENT_TYPES.join(", "),
  });
  res.end(body);
}
