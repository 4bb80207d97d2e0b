import http from "node:http";
import type net from "node:net";

/** How long a connection closed after an early answer keeps reading (and dropping) what the client still sends. */
const LINGER_MS = 5_000;

/** Whether an HTTP/1.1 request has a body: only when it says so (Transfer-Encoding, or a Content-Length other than 0; RFC 9112 §6.3). */
function announcesBody(req: http.IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && Number(length) !== 0);
}

/**
 * An HTTP/1.1 response that says `Connection: close` when it starts before its request's body
 * was read (a call refused from its headers): the connection ends after it, so a keep-alive
 * client neither reuses it nor takes the end for a reset. A request without a body is never
 * answered early, even before Node.js has marked it complete. The close lingers: the server ends
 * its side, then drops what the client still sends for up to LINGER_MS, so that a client still
 * writing its body reads the answer rather than a reset.
 */
export class EarlyCloseResponse extends http.ServerResponse {
  override writeHead(statusCode: number, statusMessage?: string, headers?: http.OutgoingHttpHeaders | http.OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, headers?: http.OutgoingHttpHeaders | http.OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, ...rest: unknown[]): this {
    if (!this.req.complete && !this.headersSent && announcesBody(this.req)) {
      this.setHeader("connection", "close");
      if (this.socket) lingerOnClose(this.socket);
    }
    return super.writeHead(statusCode, ...(rest as [string]));
  }
}

/** Node.js ends a `Connection: close` exchange with socket.destroySoon(): here, a lingering close instead. */
function lingerOnClose(socket: net.Socket): void {
  socket.destroySoon = () => {
    socket.end();
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    socket.once("close", () => clearTimeout(timer));
  };
}
