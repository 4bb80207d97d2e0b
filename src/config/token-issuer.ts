import { readFileSync } from "node:fs";
import { z } from "zod";
import { ASYMMETRIC_ALGORITHMS, type TrustedIssuerSettings } from "../auth/trusted-issuer.js";


/** An http(s) URL with no credentials and no fragment. */
export const httpUrl = z.string().refine((text) => {
  try {
    const u = new URL(text);
    return (u.protocol === "https:" || u.protocol === "http:") && !u.username && !u.password && !u.hash;
  } catch {
    return false;
  }
}, "must be an http:// or https:// URL without credentials or fragment");

/**
 * A party whose signed JWTs are trusted: its `iss`, and where its public keys are (a JWKS URL,
 * fetched and cached, or a JWKS file). An unknown `kid` refetches the keys, at most once per
 * `jwks_cooldown_ms`, so a key rotation needs no restart.
 */
export const tokenIssuerFields = {
  issuer: z.string().min(1).max(1000),
  jwks_uri: httpUrl.refine(httpsUnlessLoopback, "must be an https:// URL (http:// only for a loopback host): the keys must not be open to change on the way").optional(),
  jwks_file: z.string().min(1).refine(isJwksFile, "must be a readable JSON Web Key Set file ({\"keys\": [...]})").optional(),
  /** At least a second: each unknown kid of an anonymous token could otherwise cost a fetch. */
  jwks_cooldown_ms: z.number().int().min(1_000).max(3_600_000).default(30_000),
  algorithms: z.array(z.enum(ASYMMETRIC_ALGORITHMS, { error: `must be an asymmetric algorithm (none and HS* are never accepted): ${ASYMMETRIC_ALGORITHMS.join(", ")}` })).min(1).default([...ASYMMETRIC_ALGORITHMS]),
};

/** Exactly one of jwks_uri and jwks_file. */
export function oneKeySource(entry: { jwks_uri?: string | undefined; jwks_file?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((entry.jwks_uri === undefined) === (entry.jwks_file === undefined)) {
    ctx.addIssue({ code: "custom", path: ["jwks_uri"], message: "give exactly one of jwks_uri and jwks_file" });
  }
}

/** Issuers listed twice would make the key set used for a token depend on order. */
export function distinctIssuers(entries: readonly { issuer: string }[]): boolean {
  return new Set(entries.map((e) => e.issuer)).size === entries.length;
}

export type TokenIssuerConfig = z.infer<z.ZodObject<typeof tokenIssuerFields>>;

/** A configured issuer as the verifier takes it. */
export function trustedIssuer(entry: TokenIssuerConfig): TrustedIssuerSettings {
  return {
    issuer: entry.issuer,
    ...(entry.jwks_uri !== undefined && { jwksUri: entry.jwks_uri }),
    ...(entry.jwks_file !== undefined && { jwksFile: entry.jwks_file }),
    jwksCooldownMs: entry.jwks_cooldown_ms,
    algorithms: entry.algorithms,
  };
}

function isJwksFile(path: string): boolean {
  try {
    const jwks = JSON.parse(readFileSync(path, "utf8")) as { keys?: unknown };
    return Array.isArray(jwks.keys);
  } catch {
    return false;
  }
}

function httpsUnlessLoopback(url: string): boolean {
  const u = new URL(url);
  return u.protocol === "https:" || ["localhost", "127.0.0.1", "[::1]"].includes(u.hostname);
}
