import { z } from "zod";
import { secretRef } from "../config/secret.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { auth0Table } from "../status/auth0.js";
import { ProviderFailure } from "../status/provider-failure.js";
import { BearerHttp } from "./bearer-http.js";
import { OAuthTokenCache, type IssuedToken } from "./oauth-token-cache.js";
import { countOpenSessions, endOneOrAll, idForPath, newSessions } from "./one-or-all.js";
import { allowOptions, type ListUserSessionsCall, type Provider, type SessionListing, type TerminateCall, type TerminateResult, type UpstreamSession } from "./provider.js";
import { accountId, baseUrl } from "./provider-settings.js";
import { defineProviderType } from "./provider-type.js";
import { TokenEndpoint } from "./token-endpoint.js";
import { isSuccessStatus, malformedAnswer, retryWaitOf, withoutSecrets } from "./upstream-answer.js";
import { UpstreamHttp, type UpstreamResponse } from "./upstream-http.js";

/** Sessions asked for per page (`take`). */
const PAGE_SIZE = 100;
/** Sessions listed for one user at most; any beyond are not read. */
const MAX_LISTED = 10_000;
/** Auth0's rate-limit reset header (epoch seconds), on the API and the token endpoint alike. */
const RATE_LIMIT_RESET = "x-ratelimit-reset";
/** Longest error message kept from an answer. */
const MAX_MESSAGE = 500;

const settings = z.strictObject({
  /** The tenant's domain as a URL, e.g. https://example.eu.auth0.com (or its custom domain). */
  base_url: baseUrl,
  /** A machine-to-machine application authorized for the Management API (delete:sessions, read:sessions). */
  client_id: accountId,
  client_secret: secretRef,
  /** The Management API's identifier; default {base_url}/api/v2/. */
  audience: z.string().min(1).max(500).optional(),
  /** The token endpoint; default {base_url}/oauth/token. */
  token_url: baseUrl.optional(),
});

export type Auth0Settings = z.output<typeof settings>;

/**
 * Provider type `auth0`: the Auth0 Management API v2. `DELETE /api/v2/sessions/{id}` ends one
 * session, `DELETE /api/v2/users/{id}/sessions` all of a user's (both accepted, 202, and carried
 * out by Auth0 shortly after); `GET /api/v2/users/{id}/sessions` lists them. A client-credentials
 * token, cached and refreshed once after a 401.
 */
export class Auth0Provider implements Provider {
  readonly type = "auth0";
  readonly table = auth0Table;
  readonly verifiesTokens = false;
  readonly endsAllOfUser = true;
  readonly checkOptions = allowOptions({});
  private readonly http: UpstreamHttp;
  private readonly endpoint: TokenEndpoint;
  private readonly bearer: BearerHttp;
  private readonly audience: string;

  constructor(
    readonly name: string,
    private readonly settings: Auth0Settings,
    maxConnections: number,
  ) {
    const base = settings.base_url.replace(/\/+$/, "");
    this.http = new UpstreamHttp(name, this.table, settings.base_url, maxConnections);
    this.bearer = new BearerHttp(this.http, new OAuthTokenCache((signal) => this.fetchToken(signal)));
    this.endpoint = new TokenEndpoint(name, this.table, settings.token_url ?? `${base}/oauth/token`, RATE_LIMIT_RESET);
    this.audience = settings.audience ?? `${base}/api/v2/`;
  }

  terminate(call: TerminateCall): Promise<TerminateResult> {
    return endOneOrAll(call, {
      provider: this.name,
      table: this.table,
      endSession: (id, signal) => this.delete(`/api/v2/sessions/${encodeURIComponent(id)}`, signal),
      endAllOfUser: (userId, signal) => this.delete(`/api/v2/users/${encodeURIComponent(userId)}/sessions`, signal),
      countOpen: (userId, signal) => this.countOpen(userId, signal),
    });
  }

  /** The user's sessions, page by page (`from` = the previous page's `next`); incomplete when MAX_LISTED or the call's limit stopped it. */
  async listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    const userId = idForPath({ provider: this.name, table: this.table }, call.userId, "user_id");
    const listed: UpstreamSession[] = [];
    const now = Date.now();
    let from: string | undefined;
    do {
      const query = new URLSearchParams({ take: String(PAGE_SIZE), ...(from !== undefined && { from }) });
      const { res, token } = await this.bearer.send({ method: "GET", path: `/api/v2/users/${encodeURIComponent(userId)}/sessions?${query}`, signal: call.signal });
      const page = sessionsPage(res, userId, now);
      if ("message" in page) throw this.failure(page, token);
      const fresh = newSessions(listed, page.sessions);
      listed.push(...fresh);
      // A page with nothing new (an empty one, or a cursor back to a page seen) ends the listing.
      from = fresh.length > 0 ? page.next : undefined;
    } while (from !== undefined && listed.length < Math.min(MAX_LISTED, call.limit ?? MAX_LISTED));
    return { sessions: listed, complete: from === undefined };
  }

  async close(): Promise<void> {
    await Promise.all([this.http.close(), this.endpoint.close()]);
  }

  /** The user's open sessions, counted before a user-wide end (countOpenSessions). */
  private countOpen(userId: string, signal: AbortSignal): Promise<number | undefined> {
    return countOpenSessions(this.listUserSessions({ userId, signal }));
  }

  private async delete(path: string, signal: AbortSignal): Promise<void> {
    const { res, token } = await this.bearer.send({ method: "DELETE", path, signal });
    // 202 Accepted as documented; 200 and 204 are taken as success too.
    if (!isSuccessStatus(res)) throw this.failure(auth0Answer(res), token);
  }

  private async fetchToken(signal: AbortSignal): Promise<IssuedToken> {
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: this.settings.client_id, client_secret: this.settings.client_secret.reveal(), audience: this.audience });
    const token = await this.endpoint.request(form, signal);
    if ("message" in token) throw this.failure(token);
    return token;
  }

  private failure(answer: UpstreamAnswer, token?: string): ProviderFailure {
    return new ProviderFailure(this.name, withoutSecrets(answer, [this.settings.client_secret.reveal(), token]), this.table);
  }
}

/** Auth0's error answer `{statusCode, error, message, errorCode}`; when to retry from Retry-After, else on a 429 from x-ratelimit-reset (retryWaitOf). */
export function auth0Answer(res: UpstreamResponse): UpstreamAnswer {
  const body = typeof res.json === "object" && res.json !== null ? (res.json as Record<string, unknown>) : {};
  const code = typeof body["errorCode"] === "string" && body["errorCode"] !== "" ? body["errorCode"] : undefined;
  const text = [body["message"], body["error"]].find((m): m is string => typeof m === "string" && m !== "");
  const message = text ?? (res.text.trim() || `HTTP ${res.status}`);
  const retryAfterMs = retryWaitOf(res, RATE_LIMIT_RESET);
  return { httpStatus: res.status, ...(code !== undefined && { code }), message: message.slice(0, MAX_MESSAGE), ...(retryAfterMs !== undefined && { retryAfterMs }) };
}

/** One page of "Get sessions for user": `{sessions: [{id, user_id, expires_at, idle_expires_at, ...}], next}`. */
function sessionsPage(res: UpstreamResponse, userId: string, now: number): { sessions: UpstreamSession[]; next?: string } | UpstreamAnswer {
  if (!isSuccessStatus(res)) return auth0Answer(res);
  const body = res.json as { sessions?: unknown; next?: unknown } | undefined;
  if (typeof body !== "object" || body === null || !Array.isArray(body.sessions)) return malformedAnswer(res, "{sessions: [...], next}");
  const sessions = body.sessions.flatMap((s: unknown): UpstreamSession[] => {
    const e = s as { id?: unknown; user_id?: unknown; expires_at?: unknown; idle_expires_at?: unknown } | null;
    if (typeof e !== "object" || e === null || typeof e.id !== "string" || e.id === "") return [];
    return [{ sessionId: e.id, userId: typeof e.user_id === "string" && e.user_id !== "" ? e.user_id : userId, active: !isPast(e.expires_at, now) && !isPast(e.idle_expires_at, now) }];
  });
  return { sessions, ...(typeof body.next === "string" && body.next !== "" && { next: body.next }) };
}

function isPast(at: unknown, now: number): boolean {
  const t = typeof at === "string" ? Date.parse(at) : NaN;
  return Number.isFinite(t) && t <= now;
}

/** Provider type `auth0`. */
export const auth0Type = defineProviderType({
  type: "auth0",
  table: auth0Table,
  settings,
  create: (name, s, deps) => new Auth0Provider(name, s, deps.maxConnections),
});
