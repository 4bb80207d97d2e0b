import type http from "node:http";
import type http2 from "node:http2";
import { createContextKey } from "@connectrpc/connect";

/** The caller's address (the socket's remote address), for the limits on guessing. */
export const clientAddressKey = createContextKey<string>("", { description: "client address" });

export function clientAddress(req: http.IncomingMessage | http2.Http2ServerRequest): string {
  return req.socket?.remoteAddress ?? "";
}
