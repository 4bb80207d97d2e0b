import { randomBytes } from "node:crypto";

/** A 32-character id that sorts by creation time: 12 hex digits of milliseconds, then 80 random bits. */
export function newSessionId(now: Date): string {
  return now.getTime().toString(16).padStart(12, "0") + randomBytes(10).toString("hex");
}
