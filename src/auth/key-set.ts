import { readFile } from "node:fs/promises";
import { createLocalJWKSet, createRemoteJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import type { TokenIssuerConfig } from "../config/token-issuer.js";

/** How long one fetch of a remote key set may take. */
const JWKS_TIMEOUT_MS = 5_000;

/**
 * The public keys of a trusted issuer: its JWKS URL (cached by jose, refetched on an unknown kid
 * at most once per cooldown), or its JWKS file (read again on an unknown kid, as rarely).
 */
export function keySetOf(entry: Pick<TokenIssuerConfig, "jwks_uri" | "jwks_file" | "jwks_cooldown_ms">): JWTVerifyGetKey {
  if (entry.jwks_uri !== undefined) {
    return createRemoteJWKSet(new URL(entry.jwks_uri), { cooldownDuration: entry.jwks_cooldown_ms, timeoutDuration: JWKS_TIMEOUT_MS });
  }
  return fileKeySet(entry.jwks_file!, entry.jwks_cooldown_ms);
}

function fileKeySet(path: string, cooldownMs: number): JWTVerifyGetKey {
  let loaded: { at: number; keys: JWTVerifyGetKey } | undefined;
  const load = async () => {
    const jwks = JSON.parse(await readFile(path, "utf8")) as JSONWebKeySet;
    loaded = { at: Date.now(), keys: createLocalJWKSet(jwks) };
    return loaded.keys;
  };
  return async (header, token) => {
    const keys = loaded?.keys ?? (await load());
    try {
      return await keys(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - loaded!.at < cooldownMs) throw err;
      return (await load())(header, token);
    }
  };
}
