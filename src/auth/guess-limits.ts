import { createHash } from "node:crypto";
import { isIPv6 } from "node:net";
import type pg from "pg";
import type { Logger } from "pino";
import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";

export interface GuessLimitSettings {
  /** Failed authentications per client address and window; 0: no limit. */
  failedAuthPerAddress: number;
  /** Refused token-bearing calls per session and window; 0: no limit. */
  wrongTokensPerSession: number;
  /** Refused token-bearing calls per principal and window, whatever the session; 0: no limit. Bounds the sessions counted for one key. */
  wrongTokensPerPrincipal: number;
  windowMs: number;
}

/** How long a refused guesser must wait before the window ends. */
export interface RetryAfter {
  ms: number;
}

/** ErrorInfo reasons of refused guesses, also the `reason` label of the refusal metric. */
export type RefusalReason = AuthRefusalReason | "TOO_MANY_FAILED_AUTHENTICATIONS" | "TOO_MANY_WRONG_SESSION_TOKENS";

/** Why a call was not authenticated: an unknown API key, or a refused JWT (TOKEN_EXPIRED, TOKEN_AUDIENCE_INVALID, ...). */
export type AuthRefusalReason = "API_KEY_INVALID" | `TOKEN_${string}`;

/** The PostgreSQL table of the counters, shared by every replica (migration 5 creates it). */
const LIMITS_TABLE = "guess_limits";

/**
 * Limits on guessing API keys and session tokens, counted by rate-limiter-flexible: in this
 * process, or in PostgreSQL (`pool`) so that replicas share the counts. Only failures count.
 * A valid key is never limited: keys carry 256 random bits, so the limit is about the cost and
 * visibility of guessing, and an attacker behind the same address cannot lock a key holder out.
 */
export class GuessLimits {
  private readonly addresses: Counter;
  private readonly sessions: Counter;
  private readonly principals: Counter;

  constructor(
    settings: GuessLimitSettings,
    pool: pg.Pool | undefined,
    private readonly log: Logger,
    private readonly observe: (reason: RefusalReason) => void = () => {},
  ) {
    this.addresses = new Counter("auth", settings.failedAuthPerAddress, settings.windowMs, pool);
    this.sessions = new Counter("token", settings.wrongTokensPerSession, settings.windowMs, pool);
    this.principals = new Counter("principal", settings.wrongTokensPerPrincipal, settings.windowMs, pool);
  }

  /**
   * Counts a failed authentication from `address` (an unknown API key or a refused JWT, `reason`
   * labelling the metric): undefined while under the limit, else how long
   * to wait. Logs the first failure of an address per window and the moment it is blocked, never
   * more; once blocked, further failures are answered from memory without a store write.
   */
  async refusedAuth(address: string, reason: AuthRefusalReason = "API_KEY_INVALID"): Promise<RetryAfter | undefined> {
    const key = addressKey(address);
    const { count, retry } = await this.addresses.count(key);
    this.observe(retry ? "TOO_MANY_FAILED_AUTHENTICATIONS" : reason);
    if (count === 1) this.log.info({ address: key }, "refused a call without a known API key (logged once per address and window)");
    if (retry && count === this.addresses.points + 1) {
      this.log.warn({ address: key, retry_after_ms: retry.ms }, "too many failed authentications from this address: RESOURCE_EXHAUSTED until the window ends");
    }
    return retry;
  }

  /** How long token-bearing calls for the session must wait (each such answer is counted in the metric); undefined when its token may be checked. */
  async tokensBlocked(provider: string, sessionId: string, principal: string): Promise<RetryAfter | undefined> {
    const retry = (await this.principals.peek(principal, this.principals.points)) ?? (await this.sessions.peek(sessionKey(provider, sessionId), this.sessions.points));
    if (retry) this.observe("TOO_MANY_WRONG_SESSION_TOKENS");
    return retry;
  }

  /** Counts a refused token-bearing call for the session (a wrong token, or a token for an unknown id). */
  async refusedToken(provider: string, sessionId: string, principal: string): Promise<void> {
    const { count } = await this.sessions.count(sessionKey(provider, sessionId));
    if (count === this.sessions.points) {
      this.log.warn({ provider, session_id: sessionId }, "too many refused session tokens for this session: its token-bearing calls get RESOURCE_EXHAUSTED until the window ends");
    }
    const byPrincipal = await this.principals.count(principal);
    if (byPrincipal.count === this.principals.points) {
      this.log.warn({ principal }, "too many refused session tokens from this principal: its token-bearing calls get RESOURCE_EXHAUSTED until the window ends");
    }
  }
}

/** One limit: a rate-limiter-flexible limiter with `points` per window. */
class Counter {
  readonly points: number;
  private readonly limiter: RateLimiterAbstract;

  constructor(prefix: string, limit: number, windowMs: number, pool: pg.Pool | undefined) {
    // Without a limit the count still bounds the log lines; it is kept in memory, costing no store write.
    this.points = limit > 0 ? limit : Number.MAX_SAFE_INTEGER;
    const options = { keyPrefix: prefix, points: this.points, duration: windowMs / 1000 };
    this.limiter =
      pool && limit > 0
        ? new RateLimiterPostgres({
            ...options,
            storeClient: pool,
            tableName: LIMITS_TABLE,
            tableCreated: true,
            // Past the limit, a key is refused from memory until its window ends: no store write per attempt.
            inMemoryBlockOnConsumed: this.points + 1,
            // A store outage counts in memory instead of failing the calls.
            insuranceLimiter: new RateLimiterMemory(options),
          })
        : new RateLimiterMemory(options);
  }

  /** Adds one: the count in the window (0 when refused from memory), and how long to wait once over the limit. */
  async count(key: string): Promise<{ count: number; retry?: RetryAfter }> {
    try {
      return { count: (await this.limiter.consume(key)).consumedPoints };
    } catch (rejected) {
      if (!(rejected instanceof RateLimiterRes)) throw rejected;
      return { count: rejected.consumedPoints, retry: { ms: rejected.msBeforeNext } };
    }
  }

  /** How long to wait when the key has `blockedAt` or more counted in its window. */
  async peek(key: string, blockedAt: number): Promise<RetryAfter | undefined> {
    const res = await this.limiter.get(key);
    return res && res.consumedPoints >= blockedAt ? { ms: res.msBeforeNext } : undefined;
  }
}

/** The counted unit of a client address: IPv4 as it is, IPv6 by its /64 (one host usually holds a whole /64). */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const plain = address.replace(/%.*$/, "");
  if (!isIPv6(plain)) return address;
  const [head = "", tail] = plain.split("::");
  const groups = (part: string | undefined) => (part ? part.split(":").flatMap((g) => (g.includes(".") ? ["0", "0"] : [g])) : []);
  const front = groups(head);
  const back = groups(tail);
  const all = [...front, ...Array<string>(8 - front.length - back.length).fill("0"), ...back];
  return `${all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(":")}::/64`;
}

/** Session ids are up to 200 characters and provider names 63: the key is their hash, of a fixed length. */
function sessionKey(provider: string, sessionId: string): string {
  return createHash("sha256").update(provider).update("\0").update(sessionId).digest("hex");
}
