import type http from "node:http";
import type http2 from "node:http2";
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { BodyBytes, type BudgetHolder } from "./body-budget.js";

type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

const COMPRESSIONS = new Map([compressionGzip, compressionBrotli].map((c) => [c.name, c]));
/** Binary messages in 5-byte envelopes: gRPC, gRPC-web and Connect streaming. */
const FRAMED = /^application\/(grpc(-web)?(\+proto)?|connect\+proto)(;|$)/;
/** A bare binary message: Connect unary. */
const BARE = /^application\/proto(;|$)/;

/**
 * The body of a method that reads one message, read whole before the framework sees it:
 *
 * - Its bytes count against the process's budget (`budget`) until the call ends.
 * - Over `limit` it is RESOURCE_EXHAUSTED at once, whatever its content.
 * - A compressed body is decompressed here (it is then handed on uncompressed, and
 *   the request loses its content-encoding header): one that does not decompress is INVALID_ARGUMENT.
 * - A binary message that is not protobuf is INVALID_ARGUMENT (connect-es would say INTERNAL).
 *
 * A body in another form (JSON, gRPC-web text, an envelope that is not exactly one message) is
 * handed on as it came, and the framework judges it.
 */
export function checkedBody(
  req: NodeRequest,
  schema: DescMessage,
  limit: number,
  budget: BudgetHolder,
  onRefused: (err: ConnectError) => void,
): AsyncIterable<Uint8Array> {
  const contentType = req.headers["content-type"] ?? "";
  const framed = FRAMED.test(contentType);
  const encodingHeader = framed ? (contentType.startsWith("application/connect") ? "connect-content-encoding" : "grpc-encoding") : "content-encoding";
  const encoding = headerValue(req, encodingHeader) ?? "identity";
  const compression = COMPRESSIONS.get(encoding);
  const check = async (bytes: Uint8Array): Promise<Uint8Array> => {
    if (framed) {
      const envelope = unframe(bytes);
      if (!envelope) return bytes;
      if (!envelope.compressed) {
        mustDecode(schema, envelope.message);
        return bytes;
      }
      // A compressed envelope under no encoding is the caller's mistake (connect-es would say INTERNAL).
      if (encoding === "identity") throw new ConnectError(`request message is flagged compressed, but ${encodingHeader} names no compression`, Code.InvalidArgument);
      // An unknown encoding is the framework's to refuse (UNIMPLEMENTED, naming the ones it knows).
      if (!compression) return bytes;
      const message = await decompressed(compression, envelope.message, limit);
      mustDecode(schema, message);
      return frame(message);
    }
    if (!compression) {
      if (BARE.test(contentType)) mustDecode(schema, bytes);
      return bytes;
    }
    const message = await decompressed(compression, bytes, limit);
    if (BARE.test(contentType)) mustDecode(schema, message);
    return message;
  };
  // The framework negotiates compression from the headers before it reads the body.
  if (!framed && compression) delete req.headers["content-encoding"];
  // Framed bodies carry a 5-byte prefix beyond the message.
  return wholeBody(req, framed ? limit + 5 : limit, budget, check, onRefused);
}

async function decompressed(compression: typeof compressionGzip, bytes: Uint8Array, limit: number): Promise<Uint8Array> {
  try {
    return await compression.decompress(bytes, limit);
  } catch (err) {
    const ce = ConnectError.from(err);
    if (ce.code === Code.ResourceExhausted) throw ce;
    throw new ConnectError(`request message could not be decompressed (${compression.name})`, Code.InvalidArgument);
  }
}

function mustDecode(schema: DescMessage, message: Uint8Array): void {
  try {
    fromBinary(schema, message);
  } catch (err) {
    throw new ConnectError(`request message is not valid protobuf: ${(err as Error).message}`, Code.InvalidArgument);
  }
}

/**
 * The request body read with 'data' and 'end' events into one buffer, checked (and maybe
 * transformed) by `check`, and handed to the framework as a one-element AsyncIterable. Past
 * `limit` bytes, or past the budget, reading stops and the body fails RESOURCE_EXHAUSTED.
 */
function wholeBody(
  req: NodeRequest,
  limit: number,
  budget: BudgetHolder,
  check: (bytes: Uint8Array) => Promise<Uint8Array>,
  onRefused: (err: ConnectError) => void,
): AsyncIterable<Uint8Array> {
  const whole = new Promise<Uint8Array>((resolve, reject) => {
    const body = new BodyBytes(budget, limit);
    const stop = () => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const fail = (err: ConnectError) => {
      stop();
      // The bytes read so far are dropped: the budget has them back at once.
      budget.release();
      // At once: a reset's close of the response may come in this same turn.
      onRefused(err);
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      if (body.length + chunk.length > limit) return fail(new ConnectError(`request message is larger than read_max_bytes (${limit} bytes)`, Code.ResourceExhausted));
      try {
        body.append(chunk);
      } catch (err) {
        return fail(err as ConnectError);
      }
    };
    const onEnd = () => {
      stop();
      check(body.bytes()).then(resolve, (err: unknown) => {
        onRefused(ConnectError.from(err));
        reject(err);
      });
    };
    const onError = (err: Error) => fail(new ConnectError(err.message, Code.Aborted, undefined, undefined, err));
    const onClose = () => fail(new ConnectError("the request ended before its body", Code.Canceled));
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("close", onClose);
  });
  // Connect reads the body before it knows whether anyone waits for it; a failure is reported by next().
  whole.catch(() => {});
  let done = false;
  const iterator: AsyncIterator<Uint8Array> = {
    async next() {
      if (done) return { done: true, value: undefined };
      const body = await whole;
      done = true;
      return { done: false, value: body };
    },
    async return(value?: unknown) {
      done = true;
      return { done: true, value };
    },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

/**
 * The message of a single envelope; undefined when the envelope is incomplete (the framework
 * says so). Another flag, or bytes after the one message, are the caller's mistake.
 */
function unframe(bytes: Uint8Array): { compressed: boolean; message: Uint8Array } | undefined {
  if (bytes.length < 5) return undefined;
  if ((bytes[0]! & ~1) !== 0) throw new ConnectError(`request envelope has flags 0x${bytes[0]!.toString(16)}; only 0 and 1 (compressed) are allowed`, Code.InvalidArgument);
  const length = ((bytes[1]! << 24) | (bytes[2]! << 16) | (bytes[3]! << 8) | bytes[4]!) >>> 0;
  if (bytes.length < 5 + length) return undefined;
  if (bytes.length > 5 + length) throw new ConnectError("request body holds more than the one message this method takes", Code.InvalidArgument);
  return { compressed: bytes[0] === 1, message: bytes.subarray(5) };
}

/** An uncompressed envelope around one message. */
function frame(message: Uint8Array): Uint8Array {
  const bytes = Buffer.allocUnsafe(5 + message.length);
  bytes[0] = 0;
  bytes.writeUInt32BE(message.length, 1);
  bytes.set(message, 5);
  return bytes;
}

function headerValue(req: NodeRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}
