import { z } from "zod";
import { secretRef } from "../config/secret.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { oktaTable } from "../status/okta.js";
import { ProviderFailure } from "../status/provider-failure.js";
import { BearerHttp } from "./bearer-http.js";
import { assertionParts, clientAssertion, JWT_BEARER_ASSERTION, signingKeyOf, type SigningKey } from "./client-assertion.js";
import { OAuthTokenCache, type IssuedToken } from "./oauth-token-cache.js";
import { endOneOrAll } from "./one-or-all.js";
import { ALL_SESSIONS, allowOptions, type ListUserSessionsCall, type Provider, type SessionListing, type TerminateCall, type TerminateResult } from "./provider.js";
import { accountId, baseUrl } from "./provider-settings.js";
import { defineProviderType } from "./provider-type.js";
import { TokenEndpoint } from "./token-endpoint.js";
import { isSuccessStatus, retryWaitOf, withoutSecrets } from "./upstream-answer.js";
import { UpstreamHttp, type UpstreamRequest, type UpstreamResponse } from "./upstream-http.js";

/** The scopes a service app asks for: ending sessions by id, and a user's sessions. */
export const OKTA_SCOPES = "okta.sessions.manage okta.users.manage";
/** Okta's rate-limit reset header (epoch seconds), on the API and the token endpoint alike. */
const RATE_LIMIT_RESET = "x-rate-limit-reset";
/** Longest error summary kept from an answer. */
const MAX_MESSAGE = 500;

const settings = z
  .strictObject({
    /** The Okta org, e.g. https://example.okta.com. */
    base_url: baseUrl,
    /** An API token, sent as `Authorization: SSWS <token>`; or client_id + private_key. */
    token: secretRef.optional(),
    /** A service app's client id (OAuth 2.0 client credentials with a private-key JWT). */
    client_id: accountId.optional(),
    /** The service app's private key, PEM or JWK. */
    private_key: secretRef.optional(),
    /** The key id registered with Okta, sent as the assertion's `kid` (a JWK's own `kid` otherwise). */
    key_id: z.string().min(1).max(200).optional(),
    /** The org authorization server's token endpoint; default {base_url}/oauth2/v1/token. */
    token_url: baseUrl.optional(),
    /** Whether ending all of a user's sessions revokes their OAuth access and refresh tokens too (`oauthTokens`). */
    revoke_oauth_tokens: z.boolean().default(true),
  })
  .superRefine((s, ctx) => {
    const oauth = s.client_id !== undefined || s.private_key !== undefined;
    if (s.token !== undefined && oauth) ctx.addIssue({ code: "custom", path: ["token"], message: "give either token (SSWS) or client_id and private_key (OAuth 2.0), not both" });
    else if (s.token === undefined && !oauth) ctx.addIssue({ code: "custom", path: ["token"], message: "required: an API token, or client_id and private_key" });
    else if (oauth && s.client_id === undefined) ctx.addIssue({ code: "custom", path: ["client_id"], message: "required with private_key" });
    else if (oauth && s.private_key === undefined) ctx.addIssue({ code: "custom", path: ["private_key"], message: "required with client_id" });
    else if (s.private_key !== undefined) {
      try {
        signingKeyOf(s.private_key);
      } catch (err) {
        ctx.addIssue({ code: "custom", path: ["private_key"], message: (err as Error).message });
      }
    }
  });

export type OktaSettings = z.output<typeof settings>;

/**
 * Provider type `okta`: the Okta Management API. `DELETE /api/v1/sessions/{id}` ends one session,
 * `DELETE /api/v1/users/{id}/sessions` all of a user's (Okta lists no user's sessions). An SSWS
 * API token, or an OAuth 2.0 service app whose token is fetched with a private-key JWT, cached,
 * and refreshed once after a 401.
 */
export class OktaProvider implements Provider {
  readonly type = "okta";
  readonly table = oktaTable;
  readonly verifiesTokens = false;
  readonly endsAllOfUser = true;
  readonly cannotList = true;
  readonly checkOptions = allowOptions({});
  private readonly http: UpstreamHttp;
  private readonly oauth: { bearer: BearerHttp; endpoint: TokenEndpoint; clientId: string; key: SigningKey } | undefined;

  constructor(
    readonly name: string,
    private readonly settings: OktaSettings,
    maxConnections: number,
  ) {
    this.http = new UpstreamHttp(name, this.table, settings.base_url, maxConnections);
    if (settings.client_id !== undefined && settings.private_key !== undefined) {
      const endpoint = new TokenEndpoint(name, this.table, settings.token_url ?? `${settings.base_url.replace(/\/+$/, "")}/oauth2/v1/token`, RATE_LIMIT_RESET);
      const key = signingKeyOf(settings.private_key, settings.key_id);
      this.oauth = { endpoint, clientId: settings.client_id, key, bearer: new BearerHttp(this.http, new OAuthTokenCache((signal) => this.fetchToken(signal))) };
    }
  }

  terminate(call: TerminateCall): Promise<TerminateResult> {
    return endOneOrAll(call, {
      provider: this.name,
      table: this.table,
      endSession: (id, signal) => this.delete(`/api/v1/sessions/${encodeURIComponent(id)}`, signal),
      endAllOfUser: (userId, signal) => this.delete(`/api/v1/users/${encodeURIComponent(userId)}/sessions?oauthTokens=${this.settings.revoke_oauth_tokens}`, signal),
    });
  }

  /** Okta lists no user's sessions: the one item is all of them, ended by one call. */
  async listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    return { sessions: [{ sessionId: ALL_SESSIONS, userId: call.userId, active: true }], complete: true };
  }

  async close(): Promise<void> {
    await Promise.all([this.http.close(), this.oauth?.endpoint.close()]);
  }

  private async delete(path: string, signal: AbortSignal): Promise<void> {
    const { res, token } = await this.send({ method: "DELETE", path, signal });
    // 204 No Content; a 200 is taken as success too.
    if (!isSuccessStatus(res)) throw this.failure(oktaAnswer(res), token);
  }

  /** One API request: SSWS with the API token, or a bearer token refreshed once after a 401. */
  private async send(req: Omit<UpstreamRequest, "headers">): Promise<{ res: UpstreamResponse; token?: string }> {
    if (this.oauth) return this.oauth.bearer.send(req);
    return { res: await this.http.request({ ...req, headers: { authorization: `SSWS ${this.settings.token!.reveal()}` } }) };
  }

  private async fetchToken(signal: AbortSignal): Promise<IssuedToken> {
    const { endpoint, clientId, key } = this.oauth!;
    const assertion = await clientAssertion(clientId, endpoint.url, key);
    const form = new URLSearchParams({ grant_type: "client_credentials", scope: OKTA_SCOPES, client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: assertion });
    const token = await endpoint.request(form, signal);
    if ("message" in token) throw this.failure(token, ...assertionParts(assertion));
    return token;
  }

  /** A failure for the mapping layer, our API token and what this attempt sent (`echoable`: a token, an assertion) cut out of the upstream's words. */
  private failure(answer: UpstreamAnswer, ...echoable: (string | undefined)[]): ProviderFailure {
    return new ProviderFailure(this.name, withoutSecrets(answer, [this.settings.token?.reveal(), ...echoable]), this.table);
  }
}

/**
 * Okta's error answer: `{errorCode, errorSummary, errorLink, errorId, errorCauses: [{errorSummary}]}`.
 * Without it, the `error` of a WWW-Authenticate header (an OAuth 2.0 bearer token refused) is
 * the code. When to retry: Retry-After, else on a 429 X-Rate-Limit-Reset (retryWaitOf).
 */
export function oktaAnswer(res: UpstreamResponse): UpstreamAnswer {
  const body = typeof res.json === "object" && res.json !== null ? (res.json as Record<string, unknown>) : {};
  const errorCode = typeof body["errorCode"] === "string" && body["errorCode"] !== "" ? body["errorCode"] : undefined;
  const code = errorCode ?? bearerError(res);
  const summary = typeof body["errorSummary"] === "string" ? body["errorSummary"] : "";
  const causes = Array.isArray(body["errorCauses"]) ? body["errorCauses"].map((c) => (c as { errorSummary?: unknown })?.errorSummary).filter((c): c is string => typeof c === "string" && c !== "") : [];
  const message = [summary, ...causes].filter(Boolean).join(": ") || res.text.trim() || `HTTP ${res.status}`;
  const retryAfterMs = retryWaitOf(res, RATE_LIMIT_RESET);
  return { httpStatus: res.status, ...(code !== undefined && { code }), message: message.slice(0, MAX_MESSAGE), ...(retryAfterMs !== undefined && { retryAfterMs }) };
}

/** The `error` parameter of a Bearer WWW-Authenticate challenge (RFC 6750 §3). */
function bearerError(res: UpstreamResponse): string | undefined {
  const value = res.headers["www-authenticate"];
  return value ? /\berror="([^"]+)"/.exec(value)?.[1] : undefined;
}

/** Provider type `okta`. */
export const oktaType = defineProviderType({
  type: "okta",
  table: oktaTable,
  settings,
  create: (name, s, deps) => new OktaProvider(name, s, deps.maxConnections),
});
