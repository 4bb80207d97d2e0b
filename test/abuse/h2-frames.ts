/**
 * HTTP/2 frames (RFC 9113 §4.1: 9-byte header + payload) and header blocks written by hand, so
 * that an attack can send what no well-behaved client library would. HPACK (RFC 7541) is only
 * ever "literal header field never indexed, new name" with plain (non-Huffman) strings: no
 * dynamic table, so every block stands alone.
 */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const Setting = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5 } as const;
/** RST_STREAM / GOAWAY error codes used here. */
export const ErrorCode = { NO_ERROR: 0, CANCEL: 8 } as const;
/** Largest payload allowed before the peer raises SETTINGS_MAX_FRAME_SIZE. */
export const DEFAULT_MAX_FRAME = 16_384;

export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, 5);
  out.set(payload, 9);
  return out;
}

export function settings(values: [id: number, value: number][] = []): Buffer {
  const payload = Buffer.allocUnsafe(6 * values.length);
  values.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export const settingsAck = (): Buffer => frame(FrameType.SETTINGS, Flag.ACK, 0);
export const ping = (data: Uint8Array = Buffer.alloc(8), ack = false): Buffer => frame(FrameType.PING, ack ? Flag.ACK : 0, 0, data);

export function rstStream(streamId: number, code: number = ErrorCode.CANCEL): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function headers(streamId: number, block: Uint8Array, opts: { endStream?: boolean; endHeaders?: boolean } = {}): Buffer {
  const flags = (opts.endStream ? Flag.END_STREAM : 0) | (opts.endHeaders === false ? 0 : Flag.END_HEADERS);
  return frame(FrameType.HEADERS, flags, streamId, block);
}

export const continuation = (streamId: number, block: Uint8Array, endHeaders = false): Buffer =>
  frame(FrameType.CONTINUATION, endHeaders ? Flag.END_HEADERS : 0, streamId, block);

export const data = (streamId: number, payload: Uint8Array, endStream = false): Buffer =>
  frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, payload);

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `high` holds the bits above the prefix. */
function hpackInt(value: number, prefixBits: number, high: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, "latin1");
  return Buffer.concat([Buffer.from(hpackInt(bytes.length, 7, 0)), bytes]);
}

/** A header block of literal never-indexed fields (names lowercase, pseudo-headers first). */
export function headerBlock(fields: [name: string, value: string][]): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0x10]), hpackString(name), hpackString(value)]));
}

/** The request header fields of a POST to `path` on this server, plus `extra`. */
export function requestFields(path: string, contentType: string, extra: Record<string, string> = {}): [string, string][] {
  return [
    [":method", "POST"],
    [":scheme", "http"],
    [":authority", "127.0.0.1"],
    [":path", path],
    ["content-type", contentType],
    ...(contentType.startsWith("application/grpc") ? ([["te", "trailers"]] as [string, string][]) : []),
    ...Object.entries(extra),
  ];
}
