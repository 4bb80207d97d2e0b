import type { RequestHandler } from "./one-port.js";

/** Answers a path no route serves with UNIMPLEMENTED, in the protocol the caller speaks. */
export const answerUnimplemented: RequestHandler = (req, res) => {
  const contentType = req.headers["content-type"] ?? "";
  const message = `unknown method ${(req.url ?? "").split("?", 1)[0]}`;
  if (contentType.startsWith("application/grpc")) {
    // gRPC and gRPC-web: a trailers-only answer. Headers are set, not written with writeHead,
    // so that over HTTP/2 end() sends them in one HEADERS frame with END_STREAM, as gRPC requires.
    res.statusCode = 200;
    res.setHeader("content-type", contentType.split(";")[0]!);
    res.setHeader("grpc-status", "12");
    res.setHeader("grpc-message", percentEncode(message));
    res.end();
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ code: "unimplemented", message }));
  req.resume();
};

/** grpc-message is percent-encoded: everything outside printable ASCII, and "%" itself. */
function percentEncode(text: string): string {
  return text.replace(/[^\x20-\x24\x26-\x7e]+/g, (run) => encodeURIComponent(run));
}
