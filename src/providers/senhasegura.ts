import { z } from "zod";
import { secretRef, type Secret } from "../config/secret.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { ProviderFailure } from "../status/provider-failure.js";
import { senhaseguraTable } from "../status/senhasegura.js";
import { BearerHttp } from "./bearer-http.js";
import { OAuthTokenCache, type IssuedToken } from "./oauth-token-cache.js";
import { allowOptions, endedNow, type ListUserSessionsCall, type Provider, type SessionListing, type TerminateCall, type TerminateResult } from "./provider.js";
import { accountId, baseUrl } from "./provider-settings.js";
import { defineProviderType } from "./provider-type.js";
import { dropFailure, sessionsOf, tokenOf } from "./senhasegura-answer.js";
import { withoutSecrets } from "./upstream-answer.js";
import { UpstreamHttp } from "./upstream-http.js";

export interface SenhaseguraSettings {
  base_url: string;
  client_id: string;
  client_secret: Secret;
  /** Where sessions are dropped: `{path_prefix}/{session_id}`. */
  path_prefix: string;
  /** "List all remote sessions". */
  sessions_path: string;
  /** The OAuth 2.0 token endpoint. */
  token_path: string;
}

/** A senhasegura session hash; anything else is refused before a request is sent. */
const SESSION_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Provider type `senhasegura`: the PAM's web proxy sessions (seed 003). OAuth 2.0 client
 * credentials with a cached token, refreshed shortly before expiry and once after a 401;
 * `DELETE {path_prefix}/{session_id}` ends a session.
 */
export class SenhaseguraProvider implements Provider {
  readonly type = "senhasegura";
  readonly table = senhaseguraTable;
  readonly verifiesTokens = false;
  readonly checkOptions = allowOptions({});
  private readonly http: UpstreamHttp;
  private readonly api: BearerHttp;

  constructor(
    readonly name: string,
    private readonly settings: SenhaseguraSettings,
    maxConnections: number,
  ) {
    this.http = new UpstreamHttp(name, this.table, settings.base_url, maxConnections);
    this.api = new BearerHttp(this.http, new OAuthTokenCache((signal) => this.fetchToken(signal)));
  }

  async terminate(call: TerminateCall): Promise<TerminateResult> {
    if (!SESSION_ID.test(call.sessionId)) {
      throw this.failure({ code: "session_id_invalid", message: "session_id must be a senhasegura session hash: 1 to 128 letters, digits, '_' or '-'" });
    }
    // Encoded although validated: no id may ever change the upstream path.
    const path = `${this.settings.path_prefix}/${encodeURIComponent(call.sessionId)}`;
    const { res, token } = await this.api.send({ method: "DELETE", path, signal: call.signal });
    const failure = dropFailure(res);
    if (failure) throw this.failure(failure, token);
    return endedNow();
  }

  /** Every remote session senhasegura lists (a long, slow answer), filtered by `user` here. */
  async listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    const { res, token } = await this.api.send({ method: "GET", path: this.settings.sessions_path, signal: call.signal });
    const sessions = sessionsOf(res);
    if (!Array.isArray(sessions)) throw this.failure(sessions, token);
    return { sessions: sessions.filter((s) => s.userId === call.userId), complete: true };
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private async fetchToken(signal: AbortSignal): Promise<IssuedToken> {
    const body = new URLSearchParams({ grant_type: "client_credentials", client_id: this.settings.client_id, client_secret: this.settings.client_secret.reveal() });
    const res = await this.http.request({ method: "POST", path: this.settings.token_path, body, signal });
    const token = tokenOf(res);
    if ("message" in token) throw this.failure(token);
    return token;
  }

  /** A failure for the mapping layer; the upstream's message may echo what we sent, so our secrets are cut out. */
  private failure(answer: UpstreamAnswer, token?: string): ProviderFailure {
    return new ProviderFailure(this.name, withoutSecrets(answer, [this.settings.client_secret.reveal(), token]), this.table);
  }
}

/** A path below base_url: "/"-separated segments of unreserved characters; a trailing "/" is dropped. */
const upstreamPath = (fallback: string) =>
  z
    .string()
    .regex(/^(\/[A-Za-z0-9._~-]+)+\/?$/, "must be a path such as /api/pam/session/drop: segments of letters, digits, '.', '_', '~' or '-'")
    .transform((p) => p.replace(/\/$/, ""))
    .default(fallback);

/** Provider type `senhasegura`: base URL, OAuth client, and the paths, which differ between releases. */
export const senhaseguraType = defineProviderType({
  type: "senhasegura",
  table: senhaseguraTable,
  settings: z.strictObject({
    base_url: baseUrl,
    client_id: accountId,
    client_secret: secretRef,
    // Older releases: /iso/session/drop.
    path_prefix: upstreamPath("/api/pam/session/drop"),
    sessions_path: upstreamPath("/api/pam/session/remotesessions"),
    token_path: upstreamPath("/iso/oauth2/token"),
  }),
  create: (name, settings, deps) => new SenhaseguraProvider(name, settings, deps.maxConnections),
});
