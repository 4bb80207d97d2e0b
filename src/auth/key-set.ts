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
  let loaded: JWTVerifyGetKey | undefined;
  // When the file was last read, successfully or not: a broken file is not read again before the cooldown either.
  let readAt = 0;
  const load = async () => {
    readAt = Date.now();
    loaded = createLocalJWKSet(JSON.parse(await readFile(path, "utf8")) as JSONWebKeySet);
    return loaded;
  };
  return async (header, token) => {
    if (!loaded && Date.now() - readAt < cooldownMs) throw new Error("the JWKS file could not be read");
    const keys = loaded ?? (await load());
    try {
      return await keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - readAt < cooldownMs) throw err;
      return (await load())(header, token);
    }
  };
}
