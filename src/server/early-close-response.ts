import http from "node:http";
import type net from "node:net";

/** How long a connection closed after an early answer keeps reading (and dropping) what the client still sends. */
const LINGER_MS = 5_000;

/**
 * An HTTP/1.1 response that says `Connection: close` when it starts before its request's body
 * was read (a call refused from its headers): the connection ends after it, so a keep-alive
 * client neither reuses it nor takes the end for a reset. The close lingers: the server ends
 * its side, then drops what the client still sends for up to LINGER_MS, so that a client still
 * writing its body reads the answer rather than a reset.
 */
export class EarlyCloseResponse extends http.ServerResponse {
  override writeHead(statusCode: number, statusMessage?: string, headers?: http.OutgoingHttpHeaders | http.OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, headers?: http.OutgoingHttpHeaders | http.OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, ...rest: unknown[]): this {
    if (!this.req.complete && !this.headersSent) {
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
