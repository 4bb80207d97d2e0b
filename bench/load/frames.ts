import { createWriteStream, readFileSync } from "node:fs";
import { once } from "node:events";

/** The gRPC length-prefixed message: flag byte 0 (uncompressed), 4-byte big-endian length, message. */
export function envelope(message: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

/** The message inside one envelope, or undefined when the bytes are not exactly one envelope. */
export function unenvelope(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length < 5 || bytes[0] !== 0) return undefined;
  const length = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt32BE(1);
  return bytes.length === 5 + length ? bytes.subarray(5) : undefined;
}

/** Writes enveloped messages back to back: the file is its own index. */
export async function writeFrameFile(file: string, frames: Iterable<Uint8Array>): Promise<number> {
  const out = createWriteStream(file);
  let count = 0;
  for (const frame of frames) {
    if (!out.write(frame)) await once(out, "drain");
    count++;
  }
  out.end();
  await once(out, "finish");
  return count;
}

/** Splits a frame file into its frames (views on one buffer, no copies). */
export function readFrameFile(file: string): Buffer[] {
  const all = readFileSync(file);
  const frames: Buffer[] = [];
  for (let at = 0; at < all.length; ) {
    const end = at + 5 + all.readUInt32BE(at + 1);
    if (end > all.length) throw new Error(`${file}: truncated frame at byte ${at}`);
    frames.push(all.subarray(at, end));
    at = end;
  }
  return frames;
}
