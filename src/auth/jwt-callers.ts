import type { JWTPayload } from "jose";
import { PERMISSIONS, type Permission, type Principal } from "./principal.js";
import { sameUrl, type TrustedIssuerSettings } from "./trusted-issuer.js";
import { TokenRefused, TokenVerifier } from "./verify-token.js";

/** An issuer whose access tokens are accepted as `Authorization: Bearer <JWT>`, and how its claims make a principal. */
export interface JwtCallerSettings extends TrustedIssuerSettings {
  /** The `aud` a token must carry (one of); absent: this service's own URL (public_url, else the server's URL). */
  audience?: readonly string[];
  /** The claim naming the caller (its principal is `<issuer>#<value>`). */
  principalClaim: string;
  /** The claim holding the caller's own user id, for the own-session rule. */
  userIdClaim: string;
  /** The claim holding the caller's roles or scopes: an array of strings, a space-separated string, or an object whose keys are the values. */
  permissionsClaim: string;
  /** Claim values to our permissions; when present only mapped values grant anything, when absent values that are our permission names grant them. */
  permissionMap?: Readonly<Record<string, readonly Permission[]>>;
}

/**
 * Separates the issuer from the principal claim in a JWT caller's principal name. The
 * configuration refuses `#` in API key names and in the issuers of `auth.jwt_issuers` (an
 * issuer is a URL without a fragment, RFC 8414 section 2), so `<issuer>#<value>` is never an
 * API key's name, and two JWT callers share a name only when they have the same issuer and value.
 */
export const PRINCIPAL_SEPARATOR = "#";

/** The longest principal claim value accepted: principals are keys of the audit trail and the guessing limits. */
const MAX_PRINCIPAL_LENGTH = 255;

/** Three base64url parts separated by dots (the signature may be empty, as in an `alg: none` token, refused later). */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Whether a bearer credential has the shape of a JWS compact token (RFC 7515 section 7.1) rather than of an API key. */
export function looksLikeJws(credential: string): boolean {
  return JWS_COMPACT.test(credential);
}

const OUR_PERMISSIONS: ReadonlySet<string> = new Set(PERMISSIONS);

/**
 * The callers known by their issuers' access tokens (RFC 7519, verified as RFC 8725 asks: an
 * asymmetric algorithm of the issuer's list, its keys, `iss`, `aud`, `exp`/`nbf` with at most
 * 60 s of skew). A JWT caller has no TOTP secret, so step-up (src/auth/step-up.ts) never asks
 * it for a code: its second factor, if any, is the issuer's business.
 */
export class JwtCallers {
  private readonly verifier: TokenVerifier<JwtCallerSettings>;

  /** `ownUrl`: this service's URL, read at each call (its port is known only once it listens). */
  constructor(
    entries: readonly JwtCallerSettings[],
    private readonly ownUrl: () => string,
  ) {
    this.verifier = new TokenVerifier(entries);
  }

  get size(): number {
    return this.verifier.size;
  }

  /** The principal of a verified token; throws TokenRefused naming the check it failed, never holding the token. */
  async authenticate(token: string): Promise<Principal> {
    // An access token must expire: one without exp would be good forever.
    const { issuer, payload } = await this.verifier.verify(token, (entry) => ({ audience: entry.audience ? [...entry.audience] : sameUrl(this.ownUrl()), requiredClaims: ["exp"], refuseSecurityEvents: true }));
    return principalOf(issuer, payload);
  }
}

/** The principal a verified payload stands for: `<issuer>#<principal claim>`, its user id and the permissions its claim grants. */
export function principalOf(entry: JwtCallerSettings, payload: JWTPayload): Principal {
  const name = payload[entry.principalClaim];
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_PRINCIPAL_LENGTH) {
    throw new TokenRefused("claims", `the token's ${entry.principalClaim} claim must be a string of 1 to ${MAX_PRINCIPAL_LENGTH} characters`);
  }
  const userId = payload[entry.userIdClaim];
  return {
    name: `${entry.issuer}${PRINCIPAL_SEPARATOR}${name}`,
    ...(typeof userId === "string" && userId !== "" && { userId }),
    permissions: grantedBy(claimValues(payload[entry.permissionsClaim]), entry.permissionMap),
  };
}

/** The values of a roles or scopes claim: ["a", "b"], "a b" (OAuth `scope`), or {"a": {...}, "b": {...}} (Zitadel's roles); anything else grants nothing. */
export function claimValues(claim: unknown): string[] {
  if (typeof claim === "string") return claim.split(" ").filter(Boolean);
  if (Array.isArray(claim)) return claim.filter((v): v is string => typeof v === "string");
  if (claim !== null && typeof claim === "object") return Object.keys(claim);
  return [];
}

/** Our permissions for these claim values; values neither mapped nor ours are ignored. */
function grantedBy(values: readonly string[], map: JwtCallerSettings["permissionMap"]): Set<Permission> {
  const granted = new Set<Permission>();
  for (const value of values) {
    if (map) {
      // An own property only: a value such as "constructor" maps to nothing.
      if (Object.hasOwn(map, value)) for (const p of map[value]!) granted.add(p);
    } else if (OUR_PERMISSIONS.has(value)) {
      granted.add(value as Permission);
    }
  }
  return granted;
}
