import type { OAuthTokenCache } from "./oauth-token-cache.js";
import type { UpstreamHttp, UpstreamRequest, UpstreamResponse } from "./upstream-http.js";

/**
 * Requests to an API that takes an OAuth 2.0 access token (`Authorization: Bearer`), the token
 * from a cache; on a 401 the token is forgotten, fetched once more, and the request sent again.
 */
export class BearerHttp {
  constructor(
    private readonly http: UpstreamHttp,
    private readonly tokens: OAuthTokenCache,
  ) {}

  /** One API request; `token` is the one its answer came with (to cut it out of messages). */
  async send(req: Omit<UpstreamRequest, "headers">): Promise<{ res: UpstreamResponse; token: string }> {
    const token = await this.tokens.get(req.signal);
    const res = await this.http.request({ ...req, headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 401) return { res, token };
    this.tokens.reject(token);
    const fresh = await this.tokens.get(req.signal);
    // A second 401 is an answer for the mapping table, not a reason to try again.
    return { res: await this.http.request({ ...req, headers: { authorization: `Bearer ${fresh}` } }), token: fresh };
  }
}
