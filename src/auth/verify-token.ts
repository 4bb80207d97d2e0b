import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { keySetOf } from "./key-set.js";
import type { TrustedIssuerSettings } from "./trusted-issuer.js";

/** Which check a token failed: the edges turn it into their own answer (a reason, an RFC 8935 `err`). */
export type TokenCheck = "malformed" | "issuer" | "algorithm" | "key" | "signature" | "type" | "audience" | "expired" | "not_yet_valid" | "claims" | "keys_unavailable";

/** A token that was refused, with the check it failed; the message never holds the token. */
export class TokenRefused extends Error {
  constructor(
    readonly check: TokenCheck,
    message: string,
  ) {
    super(message);
    this.name = "TokenRefused";
  }
}


export interface TokenChecks {
  /** The `aud` the token must carry (one of, when several). */
  audience: string | string[];
  /** The JOSE header's `typ`, when the token type is explicit (SETs: secevent+jwt). */
  typ?: string;
  /** Claims that must be present besides iss and aud. */
  requiredClaims?: string[];
  /** Refused when `iat` is older than this many seconds. */
  maxAgeSec?: number;
  /** Refused when `exp` is further ahead than this many seconds. */
  maxLifetimeSec?: number;
  /**
   * Refuse Security Event Tokens (`typ` secevent+jwt, or an `events` claim): a SET is never an
   * access token or a request's credential (RFC 8417 §2.3, RFC 8725 §3.11 and §3.12).
   */
  refuseSecurityEvents?: boolean;
}

/** The longest `jti` accepted: ids are remembered by the store, keyed by issuer and id. */
const MAX_JTI_LENGTH = 255;

/** Clock skew allowed between us and an issuer. */
const CLOCK_TOLERANCE_SEC = 60;

/** The trusted issuers of one surface (JWT callers, GTR callers, SSF transmitters), keyed by `iss`. */
export class TokenVerifier<C extends TrustedIssuerSettings = TrustedIssuerSettings> {
  private readonly byIssuer = new Map<string, { config: C; keys: JWTVerifyGetKey }>();

  constructor(entries: readonly C[]) {
    for (const config of entries) this.byIssuer.set(config.issuer, { config, keys: keySetOf(config) });
  }

  get size(): number {
    return this.byIssuer.size;
  }

  /** The issuer's entry and the verified claims; throws TokenRefused naming the failed check. */
  async verify(token: string, checks: (issuer: C) => TokenChecks): Promise<{ issuer: C; payload: JWTPayload }> {
    const trusted = this.byIssuer.get(unverifiedIssuer(token));
    if (!trusted) throw new TokenRefused("issuer", "the token's issuer (iss) is not trusted here");
    const c = checks(trusted.config);
    if (c.refuseSecurityEvents && isSecurityEventType(decodeProtectedHeader(token).typ)) throw new TokenRefused("type", "a Security Event Token (typ secevent+jwt) is not accepted here");
    try {
      const { payload } = await jwtVerify(token, trusted.keys, {
        issuer: trusted.config.issuer,
        audience: c.audience,
        algorithms: [...trusted.config.algorithms],
        clockTolerance: CLOCK_TOLERANCE_SEC,
        ...(c.typ !== undefined && { typ: c.typ }),
        ...(c.requiredClaims && { requiredClaims: c.requiredClaims }),
        ...(c.maxAgeSec !== undefined && { maxTokenAge: c.maxAgeSec }),
      });
      if (c.refuseSecurityEvents && payload["events"] !== undefined) throw new TokenRefused("type", "a Security Event Token (events claim) is not accepted here");
      if (c.requiredClaims?.includes("jti") && (typeof payload.jti !== "string" || payload.jti.length === 0 || payload.jti.length > MAX_JTI_LENGTH)) {
        throw new TokenRefused("claims", `the token's jti must be a string of 1 to ${MAX_JTI_LENGTH} characters`);
      }
      if (c.maxLifetimeSec !== undefined && (typeof payload.exp !== "number" || payload.exp > Date.now() / 1000 + c.maxLifetimeSec + CLOCK_TOLERANCE_SEC)) {
        throw new TokenRefused("claims", `the token must expire (exp) within ${c.maxLifetimeSec} seconds`);
      }
      return { issuer: trusted.config, payload };
    } catch (err) {
      throw refusalOf(err);
    }
  }
}

function isSecurityEventType(typ: unknown): boolean {
  return typeof typ === "string" && /^(application\/)?secevent\+jwt$/i.test(typ);
}

/** The `iss` of a token not yet verified, only to pick the keys to verify it with. */
function unverifiedIssuer(token: string): string {
  try {
    decodeProtectedHeader(token);
    const iss = decodeJwt(token).iss;
    if (typeof iss === "string") return iss;
  } catch {
    throw new TokenRefused("malformed", "the token is not a signed JWT (JWS compact serialization)");
  }
  throw new TokenRefused("issuer", "the token has no issuer (iss)");
}

/** jose's error as the check it failed, in words that hold no part of the token. */
function refusalOf(err: unknown): TokenRefused {
  if (err instanceof TokenRefused) return err;
  if (err instanceof errors.JWTExpired) return new TokenRefused("expired", err.claim === "iat" ? "the token was issued too long ago (iat)" : "the token has expired (exp)");
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "aud") return new TokenRefused("audience", "the token's audience (aud) is not this service");
    if (err.claim === "iss") return new TokenRefused("issuer", "the token's issuer (iss) is not trusted here");
    if (err.claim === "typ") return new TokenRefused("type", "the token's type (typ header) is not the one expected");
    if ((err.claim === "nbf" || err.claim === "iat") && err.reason === "check_failed") return new TokenRefused("not_yet_valid", "the token is not valid yet (nbf, or iat in the future)");
    return new TokenRefused("claims", `the token's ${err.claim} claim is missing or invalid`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return new TokenRefused("algorithm", "the token's algorithm (alg) is not accepted: only the issuer's asymmetric algorithms are");
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return new TokenRefused("key", "no key of the issuer matches the token's key id (kid)");
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenRefused("signature", "the token's signature does not verify");
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return new TokenRefused("malformed", "the token is not a well-formed signed JWT");
  // A key set that could not be fetched or read: the caller may retry later.
  return new TokenRefused("keys_unavailable", "the issuer's keys cannot be fetched now: retry later");
}
