import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { serveChild } from "./child.js";
import { SERVING_BYTES } from "./health-echo.js";
import { envelope } from "../load/frames.js";

const BODY = envelope(SERVING_BYTES);
const HEADERS = { ":status": 200, "content-type": "application/grpc" };
const TRAILERS = { "grpc-status": "0" };

/**
 * The floor: node:http2's core stream API answering every request, once its body has been read,
 * with a fixed pre-encoded gRPC response: headers, one data frame, trailers.
 */
serveChild(async () => {
  const server = http2.createServer();
  server.on("stream", (stream) => {
    stream.on("data", () => {});
    stream.on("end", () => {
      stream.respond(HEADERS, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(TRAILERS));
      stream.end(BODY);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
});
