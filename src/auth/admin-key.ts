import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PERMISSIONS } from "./principal.js";
import { sha256Hex, type ApiKeyEntry } from "./api-keys.js";

export const ADMIN_KEY_FILE = "admin.key";

/** Generates a new API key: a prefix for recognisability, then 256 random bits. */
export function newApiKey(): string {
  return "sck_" + randomBytes(32).toString("base64url");
}

/**
 * The admin key used when the configuration names no keys: read from `<dataDir>/admin.key`,
 * created there (mode 0600) on first start. Returns the entry and whether it was created.
 */
export function ensureAdminKey(dataDir: string): { entry: ApiKeyEntry; path: string; created: boolean } {
  const path = join(dataDir, ADMIN_KEY_FILE);
  mkdirSync(dataDir, { recursive: true });
  let key: string;
  let created = false;
  try {
    key = readFileSync(path, "utf8").trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    key = newApiKey();
    writeFileSync(path, key + "\n", { mode: 0o600, flag: "wx" });
    created = true;
  }
  return { entry: { name: "admin", sha256: sha256Hex(key), permissions: [...PERMISSIONS] }, path, created };
}
