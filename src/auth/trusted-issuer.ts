/** Asymmetric JWS algorithms: `none` and the HS* family are never accepted from another party. */
export const ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"] as const;

/** A party whose signed JWTs are trusted: its `iss`, where its public keys are, and the algorithms it signs with. */
export interface TrustedIssuerSettings {
  issuer: string;
  /** Its JWKS URL, fetched and cached; or */
  jwksUri?: string;
  /** its JWKS file. */
  jwksFile?: string;
  /** An unknown kid refetches the keys at most once per this long. */
  jwksCooldownMs: number;
  algorithms: readonly string[];
}

/** A URL with and without a trailing slash: the same origin either way, as an `aud` may name it. */
export function sameUrl(url: string): string[] {
  const bare = url.replace(/\/+$/, "");
  return [bare, `${bare}/`];
}
