import { readFile } from "node:fs/promises";
import { createLocalJWKSet, createRemoteJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import type { TrustedIssuerSettings } from "./trusted-issuer.js";

/** How long one fetch of a remote key set may take. */
const JWKS_TIMEOUT_MS = 5_000;

/**
 * The public keys of a trusted issuer: its JWKS URL (cached by jose, refetched on an unknown kid
 * at most once per cooldown), or its JWKS file (read again on an unknown kid, as rarely).
 */
export function keySetOf(entry: Pick<TrustedIssuerSettings, "jwksUri" | "jwksFile" | "jwksCooldownMs">): JWTVerifyGetKey {
  if (entry.jwksUri !== undefined) {
    return createRemoteJWKSet(new URL(entry.jwksUri), { cooldownDuration: entry.jwksCooldownMs, timeoutDuration: JWKS_TIMEOUT_MS });
  }
  return fileKeySet(entry.jwksFile!, entry.jwksCooldownMs);
}

function fileKeySet(path: string, cooldownMs: number): JWTVerifyGetKey {
  // The last read of the file (calls at the same time share it), and when it began: a broken file is not read again before the cooldown either.
  let reading: Promise<JWTVerifyGetKey> | undefined;
  let readAt = 0;
  const load = () => {
    readAt = Date.now();
    reading = readFile(path, "utf8").then((text) => createLocalJWKSet(JSON.parse(text) as JSONWebKeySet));
    return reading;
  };
  const current = async (): Promise<JWTVerifyGetKey> => {
    if (!reading) return load();
    if (Date.now() - readAt < cooldownMs) return reading;
    // Past the cooldown, a read that failed is tried again; one that worked is kept.
    return reading.catch(() => load());
  };
  return async (header, token) => {
    const keys = await current();
    try {
      return await keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - readAt < cooldownMs) throw err;
      return (await load())(header, token);
    }
  };
}
