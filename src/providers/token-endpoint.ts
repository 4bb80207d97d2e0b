import type { UpstreamAnswer } from "../status/answer.js";
import type { MappingTable } from "../status/table.js";
import type { IssuedToken } from "./oauth-token-cache.js";
import { isSuccessStatus, issuedTokenOf, malformedAnswer, retryWaitOf } from "./upstream-answer.js";
import { UpstreamHttp, type UpstreamResponse } from "./upstream-http.js";

/** Connections kept to a token endpoint: tokens are cached, so one is asked for now and then. */
const TOKEN_CONNECTIONS = 2;

/** An OAuth 2.0 token endpoint at a URL of its own (it may be on another host than the API). */
export class TokenEndpoint {
  private readonly http: UpstreamHttp;
  private readonly path: string;

  constructor(
    provider: string,
    table: MappingTable,
    /** The endpoint's full URL, e.g. https://example.okta.com/oauth2/v1/token. */
    readonly url: string,
    /** The vendor's rate-limit reset header (epoch seconds, lower case), read on a 429 without Retry-After. */
    private readonly resetHeader?: string,
  ) {
    const u = new URL(url);
    this.http = new UpstreamHttp(provider, table, u.origin, TOKEN_CONNECTIONS);
    this.path = (u.pathname || "/") + u.search;
  }

  /** Posts the form; the token, or the answer for the mapping table. */
  async request(form: URLSearchParams, signal: AbortSignal): Promise<IssuedToken | UpstreamAnswer> {
    return oauthTokenOf(await this.http.request({ method: "POST", path: this.path, body: form, signal }), this.resetHeader);
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

/** The form of every registered OAuth error code: lower-case words joined by "_" (RFC 6749 §5.2). */
export const OAUTH_CODE = /^[a-z]+(_[a-z]+)*$/;

/**
 * A token endpoint's answer: the token, or the answer for the mapping table. An OAuth 2.0 error
 * (RFC 6749 §5.2) has its `error` as the code and its `error_description` as the message; an
 * `error` in words (a realm or a proxy speaking) is the message. When to retry: retryWaitOf, with
 * the vendor's reset header (`resetHeader`, epoch seconds).
 */
export function oauthTokenOf(res: UpstreamResponse, resetHeader?: string): IssuedToken | UpstreamAnswer {
  const token = issuedTokenOf(res);
  if (token) return token;
  if (isSuccessStatus(res)) return malformedAnswer(res, "{access_token, expires_in, token_type}");
  const body = res.json as Record<string, unknown> | undefined;
  const error = typeof body === "object" && body !== null && typeof body["error"] === "string" && body["error"] !== "" ? body["error"] : undefined;
  const code = error !== undefined && OAUTH_CODE.test(error) ? error : undefined;
  const description = error !== undefined && typeof body!["error_description"] === "string" ? body!["error_description"] : "";
  const message = description || error || res.text.trim().slice(0, 300) || `HTTP ${res.status}`;
  const retryAfterMs = retryWaitOf(res, resetHeader);
  return { httpStatus: res.status, ...(code !== undefined && { code }), message, ...(retryAfterMs !== undefined && { retryAfterMs }) };
}
