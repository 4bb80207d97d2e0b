import http2 from "node:http2";
import { unenvelope } from "./frames.js";

export interface UnaryAnswer {
  status: string;
  message: string;
  /** The response message (unenveloped); empty when there was none. */
  body: Uint8Array;
}

/** A plain one-call-at-a-time gRPC client, for setting up and checking outside the timed runs. */
export class UnaryClient {
  private constructor(private readonly session: http2.ClientHttp2Session) {}

  static async connect(port: number): Promise<UnaryClient> {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    await new Promise<void>((resolve, reject) => {
      session.once("connect", () => resolve());
      session.once("error", reject);
    });
    session.on("error", () => {});
    return new UnaryClient(session);
  }

  call(path: string, frame: Uint8Array, headers: Record<string, string> = {}): Promise<UnaryAnswer> {
    return new Promise((resolve, reject) => {
      const req = this.session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
      const chunks: Buffer[] = [];
      let status = "";
      let message = "";
      const onHeaders = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
        if (h["grpc-message"] !== undefined) message = decodeURIComponent(String(h["grpc-message"]));
      };
      req.on("response", onHeaders);
      req.on("trailers", onHeaders);
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("error", reject);
      req.on("close", () => {
        const all = Buffer.concat(chunks);
        resolve({ status: status || "no grpc-status", message, body: all.length ? (unenvelope(all) ?? all) : new Uint8Array() });
      });
      req.end(frame);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.session.close(() => resolve()));
  }
}
