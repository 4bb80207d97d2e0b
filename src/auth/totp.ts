import { createHmac } from "node:crypto";

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** The bytes of an RFC 4648 base32 text (case, spaces and `=` padding ignored); undefined when it is not base32. */
export function base32Decode(text: string): Buffer | undefined {
  const chars = text.replace(/[\s=]/g, "").toUpperCase();
  if (chars === "") return undefined;
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const c of chars) {
    const digit = BASE32.indexOf(c);
    if (digit < 0) return undefined;
    value = (value << 5) | digit;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** The RFC 6238 TOTP code (HMAC-SHA-1, 30 s step, 6 digits) of a key at a time in ms since the epoch. */
export function totp(key: Buffer, timeMs: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(timeMs / 30_000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  // RFC 4226 dynamic truncation.
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, "0");
}
