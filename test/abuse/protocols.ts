import { gzipSync } from "node:zlib";
import { codeName } from "./clients.js";
import type { RawAnswer, RawRequest } from "./raw-http.js";
import { Code } from "@connectrpc/connect";

/** The wire forms of one unary call that the server accepts, and how each says how it went. */
export const PROTOCOLS = ["grpc", "grpc-web", "connect-proto", "connect-json", "connect-get", "rest"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** A gRPC length-prefixed message (flag 1 = compressed). */
export function envelope(message: Uint8Array, flag = 0, declared = message.length): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(declared >>> 0, 1);
  out.set(message, 5);
  return out;
}

export interface CallShape {
  protocol: Protocol;
  /** e.g. /sessioncontrol.v1.SessionControl/Terminate; for rest, the session id. */
  path: string;
  /** The message bytes (protobuf or JSON text), before any envelope or compression. */
  message: Uint8Array;
  gzip?: boolean;
  headers?: Record<string, string>;
  /** gRPC framing gone wrong: another flag byte, another declared length, or no envelope at all. */
  frame?: { flag?: number; declared?: number; bare?: boolean };
}

/** The request for one call shape, gzip-compressed when asked (and the header that says so). */
export function request(c: CallShape): RawRequest {
  const payload = c.gzip ? gzipSync(c.message) : c.message;
  const h = c.headers ?? {};
  const framed = () => (c.frame?.bare ? Buffer.from(payload) : envelope(payload, c.frame?.flag ?? (c.gzip ? 1 : 0), c.frame?.declared ?? payload.length));
  switch (c.protocol) {
    case "grpc":
      return post(c.path, { "content-type": "application/grpc", te: "trailers", ...(c.gzip && { "grpc-encoding": "gzip" }), ...h }, framed());
    case "grpc-web":
      return post(c.path, { "content-type": "application/grpc-web+proto", "x-grpc-web": "1", ...(c.gzip && { "grpc-encoding": "gzip" }), ...h }, framed());
    case "connect-proto":
    case "connect-json":
      return post(
        c.path,
        { "content-type": c.protocol === "connect-proto" ? "application/proto" : "application/json", "connect-protocol-version": "1", ...(c.gzip && { "content-encoding": "gzip" }), ...h },
        payload,
      );
    case "connect-get": {
      const q = new URLSearchParams({ connect: "v1", encoding: "proto", base64: "1", message: Buffer.from(payload).toString("base64url"), ...(c.gzip && { compression: "gzip" }) });
      return { method: "GET", path: `${c.path}?${q}`, headers: h };
    }
    case "rest":
      return { method: "DELETE", path: `/v2/sessions/${encodeURIComponent(c.path)}`, headers: { "content-type": "application/json", ...(c.gzip && { "content-encoding": "gzip" }), ...h }, body: payload };
  }
}

function post(path: string, headers: Record<string, string>, body: Uint8Array): RawRequest {
  return { method: "POST", path, headers, body };
}

/**
 * The status code of an answer, by the rules of the protocol the request's content type
 * names (a fuzzed content type may name another one): "OK", a gRPC code name, or
 * "HTTP <status>" when the answer says none.
 */
export function answerCode(req: RawRequest, a: RawAnswer): string {
  const contentType = req.headers["content-type"] ?? "";
  if (contentType.startsWith("application/grpc")) {
    // gRPC-web-text answers are base64, the trailer frame included.
    const body = (a.headers["content-type"] ?? "").startsWith("application/grpc-web-text") ? Buffer.from(a.body.toString("latin1"), "base64") : a.body;
    const status = a.trailers["grpc-status"] ?? a.headers["grpc-status"] ?? grpcWebTrailer(body)["grpc-status"];
    if (status !== undefined) return codeName(Number(status) as Code);
    return a.status === 200 ? "HTTP 200 without grpc-status" : `HTTP ${a.status}`;
  }
  if (a.status === 200) return "OK";
  try {
    const code = (JSON.parse(a.body.toString("utf8")) as { code?: unknown }).code;
    if (typeof code === "string") return code.toUpperCase();
    if (typeof code === "number") return codeName(code as Code);
  } catch {
    // not a JSON error body
  }
  return `HTTP ${a.status}`;
}

/** The trailers frame (flag 0x80) at the end of a gRPC-web body, parsed. */
function grpcWebTrailer(body: Buffer): Record<string, string> {
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    if (body[at]! & 0x80) {
      const text = body.subarray(at + 5, at + 5 + length).toString("latin1");
      return Object.fromEntries(text.split("\r\n").flatMap((line) => (line.includes(":") ? [[line.slice(0, line.indexOf(":")).trim().toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]] : [])));
    }
    at += 5 + length;
  }
  return {};
}

/**
 * HTTP statuses of 500 and up that a client's own input may cause, by the Connect protocol's
 * code mapping: 501 for UNIMPLEMENTED (a method that does not exist) and 504 for
 * DEADLINE_EXCEEDED (the client's own timeout).
 */
const CLIENT_MADE_5XX: Record<number, string> = { 501: "UNIMPLEMENTED", 504: "DEADLINE_EXCEEDED" };

/** What no client-made input may get: another 5xx, INTERNAL, UNKNOWN, or a gRPC 200 without a status. */
export function serverFault(a: RawAnswer, code: string): boolean {
  const allowed = CLIENT_MADE_5XX[a.status];
  return (a.status >= 500 && (allowed === undefined || (code !== allowed && !code.startsWith("HTTP")))) || code === "INTERNAL" || code === "UNKNOWN" || code.includes("without grpc-status");
}
