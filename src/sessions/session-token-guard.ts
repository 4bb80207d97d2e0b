import type { GuessLimits } from "../auth/guess-limits.js";
import type { Provider } from "../providers/provider.js";
import { ProviderFailure } from "../status/provider-failure.js";
import { tooManyAttempts, type CodeName } from "../status/failure.js";

/** Answers to a token-bearing call that count as a refused token: wrong token, or a token for an id the caller may not learn of. */
const REFUSED: ReadonlySet<CodeName> = new Set(["PERMISSION_DENIED", "NOT_FOUND", "UNAUTHENTICATED"]);

/**
 * `limits.wrong_tokens_per_session`: a token-bearing call for a session over its limit is answered
 * RESOURCE_EXHAUSTED before its token is checked (no read, no audit row); each refused one counts.
 * Keyed by session id whether it exists or not, so the limit tells nothing about existence.
 * Calls without a token pass untouched. `limits.wrong_tokens_per_principal` bounds one caller's
 * refused tokens across sessions alike, and so the sessions counted for it.
 */
export async function guardSessionToken<T>(limits: GuessLimits | undefined, provider: Provider, sessionId: string, sessionToken: string | undefined, principal: string, run: () => Promise<T>): Promise<T> {
  if (!limits || !sessionToken) return run();
  const wait = await limits.tokensBlocked(provider.name, sessionId, principal);
  if (wait) throw tooManyAttempts("TOO_MANY_WRONG_SESSION_TOKENS", "too many refused session tokens for this session: retry later", wait.ms);
  try {
    return await run();
  } catch (err) {
    if (err instanceof ProviderFailure && REFUSED.has(err.code)) await limits.refusedToken(provider.name, sessionId, principal);
    throw err;
  }
}
