import http from "node:http";

/**
 * An HTTP/1.1 response that says `Connection: close` when it starts before its request's body
 * was read (a call refused from its headers): the connection ends after it, so a keep-alive
 * client neither reuses it nor takes the end for a reset. Node.js ends the socket itself once a
 * response with `Connection: close` is sent.
 */
export class EarlyCloseResponse extends http.ServerResponse {
  override writeHead(statusCode: number, statusMessage?: string, headers?: http.OutgoingHttpHeaders | http.OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, headers?: http.OutgoingHttpHeaders | http.OutgoingHttpHeader[]): this;
  override writeHead(statusCode: number, ...rest: unknown[]): this {
    if (!this.req.complete && !this.headersSent) this.setHeader("connection", "close");
    return super.writeHead(statusCode, ...(rest as [string]));
  }
}
