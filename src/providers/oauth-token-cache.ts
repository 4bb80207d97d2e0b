/** A freshly issued access token, as the token endpoint describes it. */
export interface IssuedToken {
  value: string;
  /** `expires_in`; undefined when the endpoint gave none: the token is then kept until it is rejected. */
  expiresInSeconds?: number;
}

/** Asks the token endpoint for one new token; aborted with the signal of the call that needed it. */
export type FetchToken = (signal: AbortSignal) => Promise<IssuedToken>;

/** Refresh this long before expiry at most... */
const MAX_MARGIN_MS = 30_000;
/** ...and at most this share of the token's lifetime, so that short-lived tokens are still used. */
const MARGIN_SHARE = 0.1;

/**
 * An OAuth 2.0 access token (client credentials), cached until shortly before it expires.
 * Calls that need a token at the same time share one token request.
 */
export class OAuthTokenCache {
  private current: { value: string; refreshAt: number } | undefined;
  private flight: { promise: Promise<string>; signal: AbortSignal } | undefined;

  constructor(private readonly fetchToken: FetchToken) {}

  async get(signal: AbortSignal): Promise<string> {
    for (;;) {
      if (this.current && Date.now() < this.current.refreshAt) return this.current.value;
      const flight = this.flight ?? this.start(signal);
      try {
        return await flight.promise;
      } catch (err) {
        // The call that started the shared request gave up; a call still waiting asks again itself.
        if (flight.signal.aborted && !signal.aborted) continue;
        throw err;
      }
    }
  }

  /** Forgets a token the upstream refused, unless a newer one has replaced it already. */
  reject(value: string): void {
    if (this.current?.value === value) this.current = undefined;
  }

  private start(signal: AbortSignal): { promise: Promise<string>; signal: AbortSignal } {
    const requestedAt = Date.now();
    const promise: Promise<string> = this.fetchToken(signal)
      .then((token) => {
        this.current = { value: token.value, refreshAt: refreshTime(requestedAt, token.expiresInSeconds) };
        return token.value;
      })
      .finally(() => {
        if (this.flight?.promise === promise) this.flight = undefined;
      });
    this.flight = { promise, signal };
    return this.flight;
  }
}

/** When to fetch the next token: shortly before expiry, counted from when this one was requested. */
function refreshTime(requestedAt: number, expiresInSeconds: number | undefined): number {
  if (expiresInSeconds === undefined) return Infinity;
  const lifetime = expiresInSeconds * 1000;
  return requestedAt + lifetime - Math.min(MAX_MARGIN_MS, lifetime * MARGIN_SHARE);
}
