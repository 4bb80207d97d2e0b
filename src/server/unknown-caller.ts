import { Code, type ConnectError } from "@connectrpc/connect";
import type { GuessLimits } from "../auth/guess-limits.js";
import { serviceError, tooManyAttempts } from "../status/errors.js";

/**
 * The answer to a call without a known API key: UNAUTHENTICATED, or RESOURCE_EXHAUSTED once its
 * address is over `limits.failed_auth_per_address`. Counted and logged by the limits, never audited.
 */
export async function refuseUnknownCaller(limits: GuessLimits, address: string): Promise<ConnectError> {
  const retry = await limits.refusedAuth(address);
  if (retry) return tooManyAttempts("TOO_MANY_FAILED_AUTHENTICATIONS", "too many failed authentications from this address: retry later with a valid API key", retry.ms);
  return serviceError(Code.Unauthenticated, "API_KEY_INVALID", "missing or unknown API key: send Authorization: Bearer <api key>");
}
