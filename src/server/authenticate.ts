import type { IncomingHttpHeaders } from "node:http";
import type { ApiKeys } from "../auth/api-keys.js";
import type { GuessLimits } from "../auth/guess-limits.js";
import type { Principal } from "../auth/principal.js";
import { Failure, tooManyAttempts } from "../status/failure.js";

/** A caller known from its request headers, or the failure that refuses it. */
export type AuthOutcome = { principal: Principal } | { refusal: Failure };

/**
 * How every authenticated call (RPC and REST) is known, from its headers and the client's
 * address, before its body is read.
 */
export type Authenticate = (headers: IncomingHttpHeaders, remoteAddress: string | undefined) => Promise<AuthOutcome>;

/**
 * API keys, under the limit on guessing: an unknown key is UNAUTHENTICATED, or RESOURCE_EXHAUSTED
 * once its address is over `limits.failed_auth_per_address`. Counted and logged by the limits, never audited.
 */
export function apiKeyAuthenticator(keys: ApiKeys, limits: GuessLimits): Authenticate {
  return async (headers, remoteAddress) => {
    const principal = keys.authenticate(headers["authorization"]);
    if (principal) return { principal };
    const retry = await limits.refusedAuth(remoteAddress ?? "");
    if (retry) return { refusal: tooManyAttempts("TOO_MANY_FAILED_AUTHENTICATIONS", "too many failed authentications from this address: retry later with a valid API key", retry.ms) };
    return { refusal: unauthenticated() };
  };
}

export function unauthenticated(): Failure {
  return new Failure("UNAUTHENTICATED", "API_KEY_INVALID", "missing or unknown API key: send Authorization: Bearer <api key>");
}
