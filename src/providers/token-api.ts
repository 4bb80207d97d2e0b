import type { UpstreamAnswer } from "../status/answer.js";
import type { MappingTable } from "../status/table.js";
import { oauthTokenOf } from "./oauth-token-answer.js";
import type { IssuedToken, OAuthTokenCache } from "./oauth-token-cache.js";
import { UpstreamHttp, type UpstreamRequest, type UpstreamResponse } from "./upstream-http.js";

/** An API request as the adapter makes it: the authorization header is added here. */
export type ApiRequest = Omit<UpstreamRequest, "headers"> & { headers?: Record<string, string> };

/**
 * An upstream API called with an OAuth 2.0 access token from a cache: on a 401 the token is
 * forgotten, a new one fetched, and the request sent once more. A second 401 is an answer for the
 * mapping table, not a reason to try again.
 */
export async function sendWithToken(http: UpstreamHttp, tokens: OAuthTokenCache, req: ApiRequest): Promise<{ res: UpstreamResponse; token: string }> {
  const send = (token: string) => http.request({ ...req, headers: { ...req.headers, authorization: `Bearer ${token}` } });
  const token = await tokens.get(req.signal);
  const res = await send(token);
  if (res.status !== 401) return { res, token };
  tokens.reject(token);
  const fresh = await tokens.get(req.signal);
  return { res: await send(fresh), token: fresh };
}

/** An upstream's answer with our secrets cut out of its message: upstreams may echo what we sent. */
export function withoutSecrets<A extends { message: string }>(answer: A, secrets: readonly (string | undefined)[]): A {
  const message = secrets.filter((s): s is string => !!s).reduce((m, s) => m.split(s).join("[secret]"), answer.message);
  return { ...answer, message };
}

/** An OAuth 2.0 token endpoint at a URL of its own (it may be on another host than the API). */
export class TokenEndpoint {
  private readonly http: UpstreamHttp;
  private readonly path: string;

  constructor(
    provider: string,
    table: MappingTable,
    /** The endpoint's full URL, e.g. https://example.okta.com/oauth2/v1/token. */
    readonly url: string,
  ) {
    const u = new URL(url);
    this.http = new UpstreamHttp(provider, table, u.origin, TOKEN_CONNECTIONS);
    this.path = (u.pathname || "/") + u.search;
  }

  /** Posts the form; the token, or the answer for the mapping table. */
  async request(form: URLSearchParams, signal: AbortSignal): Promise<IssuedToken | UpstreamAnswer> {
    return oauthTokenOf(await this.http.request({ method: "POST", path: this.path, body: form, signal }));
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

/** Connections kept to a token endpoint: tokens are cached, so one is asked for now and then. */
const TOKEN_CONNECTIONS = 2;
