import type { connectNodeAdapter } from "@connectrpc/connect-node";

type Fallback = NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>;

/** Answers a path no route serves with UNIMPLEMENTED, in the protocol the caller speaks. */
export const answerUnimplemented: Fallback = (req, res) => {
  const contentType = req.headers["content-type"] ?? "";
  const message = `unknown method ${encodeURIComponent(req.url ?? "")}`;
  if (contentType.startsWith("application/grpc")) {
    // gRPC and gRPC-web: a trailers-only answer.
    res.writeHead(200, { "content-type": contentType.split(";")[0]!, "grpc-status": "12", "grpc-message": message });
    res.end();
    return;
  }
  res.writeHead(404, { "content-type": "application/json" });
  res.end(JSON.stringify({ code: "unimplemented", message }));
  req.resume();
};
