import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PERMISSIONS } from "./principal.js";
import { attempt, privateDataDir, privateFile, readIfPresent } from "../store/data-dir.js";
import { sha256Hex, type ApiKeyEntry } from "./api-keys.js";

export const ADMIN_KEY_FILE = "admin.key";

/** Generates a new API key: a prefix for recognisability, then 256 random bits. */
export function newApiKey(): string {
  return "sck_" + randomBytes(32).toString("base64url");
}

/**
 * The admin key used when the configuration names no keys: read from `<dataDir>/admin.key`,
 * created there (mode 0600, the directory 0700) on first start. Returns the entry and whether
 * it was created; throws DataDirError when the directory or the file cannot be used.
 */
export function ensureAdminKey(dataDir: string): { entry: ApiKeyEntry; path: string; created: boolean } {
  const path = join(dataDir, ADMIN_KEY_FILE);
  privateDataDir(dataDir);
  privateFile(path, false);
  const existing = attempt(path, () => readIfPresent(path))?.trim();
  const key = existing ?? newApiKey();
  if (existing === undefined) attempt(path, () => writeFileSync(path, key + "\n", { mode: 0o600, flag: "wx" }));
  return { entry: { name: "admin", sha256: sha256Hex(key), permissions: [...PERMISSIONS] }, path, created: existing === undefined };
}
