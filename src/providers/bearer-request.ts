import type { OAuthTokenCache } from "./oauth-token-cache.js";
import type { UpstreamHttp, UpstreamRequest, UpstreamResponse } from "./upstream-http.js";

/**
 * One API request with a cached bearer token. On a 401 the token is forgotten, a new one fetched
 * and the request sent once more; a second 401 is an answer for the mapping table, not a reason to
 * try again. Answers the response and the token it was sent with (to cut it out of messages).
 */
export async function sendWithBearer(http: UpstreamHttp, tokens: OAuthTokenCache, req: Omit<UpstreamRequest, "headers">): Promise<{ res: UpstreamResponse; token: string }> {
  const token = await tokens.get(req.signal);
  const res = await http.request({ ...req, headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 401) return { res, token };
  tokens.reject(token);
  const fresh = await tokens.get(req.signal);
  return { res: await http.request({ ...req, headers: { authorization: `Bearer ${fresh}` } }), token: fresh };
}
