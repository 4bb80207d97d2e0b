import type { IncomingHttpHeaders } from "node:http";
import type { ApiKeys } from "../auth/api-keys.js";
import type { AuthRefusalReason, GuessLimits } from "../auth/guess-limits.js";
import { looksLikeJws, type JwtCallers } from "../auth/jwt-callers.js";
import type { Principal } from "../auth/principal.js";
import { TokenRefused, type TokenCheck } from "../auth/verify-token.js";
import { Failure, tooManyAttempts } from "../status/failure.js";

/** A caller known from its request headers, or the failure that refuses it. */
export type AuthOutcome = { principal: Principal } | { refusal: Failure };

/**
 * How every authenticated call (RPC and REST) is known, from its headers and the client's
 * address, before its body is read.
 */
export type Authenticate = (headers: IncomingHttpHeaders, remoteAddress: string | undefined) => Promise<AuthOutcome>;

/** The ErrorInfo reason of each check a JWT can fail. */
export const TOKEN_REASONS: Readonly<Record<Exclude<TokenCheck, "keys_unavailable">, AuthRefusalReason>> = {
  malformed: "TOKEN_MALFORMED",
  issuer: "TOKEN_ISSUER_UNKNOWN",
  algorithm: "TOKEN_ALGORITHM_REFUSED",
  key: "TOKEN_KEY_UNKNOWN",
  signature: "TOKEN_SIGNATURE_INVALID",
  type: "TOKEN_TYPE_INVALID",
  audience: "TOKEN_AUDIENCE_INVALID",
  expired: "TOKEN_EXPIRED",
  not_yet_valid: "TOKEN_NOT_YET_VALID",
  claims: "TOKEN_CLAIMS_INVALID",
};

/**
 * `Authorization: Bearer <credential>`: a known API key; else, when JWT issuers are configured
 * and the credential has the shape of a JWS compact token, a JWT of one of them. An unknown key
 * is UNAUTHENTICATED `API_KEY_INVALID`, a refused token UNAUTHENTICATED with the reason of the
 * check it failed (never its text); either is RESOURCE_EXHAUSTED once its address is over
 * `limits.failed_auth_per_address`. Keys the issuer cannot serve now are UNAVAILABLE, not
 * counted. Counted and logged by the limits, never audited.
 */
export function authenticator(keys: ApiKeys, jwtCallers: JwtCallers | undefined, limits: GuessLimits): Authenticate {
  const refused = async (remoteAddress: string | undefined, reason: AuthRefusalReason, message: string): Promise<AuthOutcome> => {
    const retry = await limits.refusedAuth(remoteAddress ?? "", reason);
    if (retry) return { refusal: tooManyAttempts("TOO_MANY_FAILED_AUTHENTICATIONS", "too many failed authentications from this address: retry later with a valid API key or token", retry.ms) };
    return { refusal: new Failure("UNAUTHENTICATED", reason, message) };
  };
  return async (headers, remoteAddress) => {
    const authorization = headers["authorization"];
    // A key is looked up first (a hash lookup): a configured key keeps working whatever its shape.
    const principal = keys.authenticate(authorization);
    if (principal) return { principal };
    const credential = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
    if (credential === undefined || !jwtCallers?.size || !looksLikeJws(credential)) {
      return refused(remoteAddress, "API_KEY_INVALID", "missing or unknown API key: send Authorization: Bearer <api key>");
    }
    try {
      return { principal: await jwtCallers.authenticate(credential) };
    } catch (err) {
      if (!(err instanceof TokenRefused)) throw err;
      // The issuer's keys cannot be fetched: not the caller's doing, so not counted; it may retry.
      if (err.check === "keys_unavailable") return { refusal: new Failure("UNAVAILABLE", "TOKEN_KEYS_UNAVAILABLE", err.message, { retryable: true }) };
      return refused(remoteAddress, TOKEN_REASONS[err.check], err.message);
    }
  };
}
