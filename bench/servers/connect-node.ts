import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { serveChild } from "./child.js";
import { SERVING } from "./health-echo.js";

/** Bare connect-node: connectNodeAdapter on http2.createServer, one unary method, nothing else. */
serveChild(async () => {
  const handler = connectNodeAdapter({
    routes: (router) => router.rpc(Health.method.check, () => SERVING),
  });
  const server = http2.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
});
