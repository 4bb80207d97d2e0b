import { createHash } from "node:crypto";
import type { Permission, Principal } from "./principal.js";

export interface ApiKeyEntry {
  name: string;
  /** SHA-256 of the key, hexadecimal. */
  sha256: string;
  userId?: string;
  permissions: Permission[];
  /** Decoded TOTP secret for step-up 2FA. */
  totpKey?: Buffer;
}

/** Resolves `Authorization: Bearer <key>` to a principal; keys are known only by their hashes. */
export class ApiKeys {
  private readonly byHash = new Map<string, Principal>();

  constructor(entries: ApiKeyEntry[]) {
    for (const e of entries) {
      const principal: Principal = { name: e.name, permissions: new Set(e.permissions) };
      if (e.userId) principal.userId = e.userId;
      if (e.totpKey) principal.totpKey = e.totpKey;
      this.byHash.set(e.sha256.toLowerCase(), principal);
    }
  }

  authenticate(authorization: string | null | undefined): Principal | undefined {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
    // Keys carry 256 random bits, so a lookup by their hash leaks nothing usable through timing.
    return match ? this.byHash.get(sha256Hex(match[1]!)) : undefined;
  }
}

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}
