import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A new session token (256 random bits) and the hash that is all the store keeps. */
export function newSessionToken(): { token: string; hash: Uint8Array } {
  const token = randomBytes(32).toString("base64url");
  return { token, hash: hashSessionToken(token) };
}

export function hashSessionToken(token: string): Uint8Array {
  return createHash("sha256").update(token).digest();
}

/** Compares in constant time: both sides are 32-byte hashes. */
export function sessionTokenMatches(token: string, hash: Uint8Array): boolean {
  const presented = hashSessionToken(token);
  return presented.length === hash.length && timingSafeEqual(presented, hash);
}
