import { z } from "zod";
import { secretRef, type Secret } from "../config/secret.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { keycloakTable } from "../status/keycloak.js";
import { ProviderFailure } from "../status/provider-failure.js";
import { countOpenSessions } from "./one-or-all.js";
import { BearerHttp } from "./bearer-http.js";
import { OAuthTokenCache, type IssuedToken } from "./oauth-token-cache.js";
import { pathIdProblem } from "./path-id.js";
import { allowOptions, endedNow, type ListUserSessionsCall, type Provider, type SessionListing, type TerminateCall, type TerminateResult } from "./provider.js";
import { accountId, baseUrl } from "./provider-settings.js";
import { defineProviderType } from "./provider-type.js";
import { OAUTH_CODE, TokenEndpoint } from "./token-endpoint.js";
import { isSuccessStatus, retryAfterOf, undocumentedAnswer, withoutSecrets } from "./upstream-answer.js";
import { UpstreamHttp, type UpstreamResponse } from "./upstream-http.js";

export interface KeycloakSettings {
  /** Where Keycloak serves, e.g. https://sso.example.com (or .../auth for releases before 17). */
  base_url: string;
  /** The realm whose sessions are ended; the service account's client lives in it. */
  realm: string;
  client_id: string;
  client_secret: Secret;
  /** The token endpoint; default {base_url}/realms/{realm}/protocol/openid-connect/token. */
  token_url?: string | undefined;
}

/** A user session as GET .../users/{id}/sessions lists it (UserSessionRepresentation). */
interface ListedSession {
  id: string;
  userId?: string;
}

/**
 * Provider type `keycloak`: the Admin REST API of one realm, with an access token from the
 * service account of a confidential client (client credentials), cached until shortly before it
 * expires and fetched once more after a 401. `DELETE /admin/realms/{realm}/sessions/{session}`
 * ends one session; `POST .../users/{id}/logout` ends all of a user's, after
 * `GET .../users/{id}/sessions` has said how many were open.
 */
export class KeycloakProvider implements Provider {
  readonly type = "keycloak";
  readonly table = keycloakTable;
  readonly verifiesTokens = false;
  readonly endsAllOfUser = true;
  readonly checkOptions = allowOptions({
    isOffline: (v) => (v === "true" || v === "false" ? undefined : 'must be "true" or "false"'),
  });
  private readonly http: UpstreamHttp;
  private readonly tokenEndpoint: TokenEndpoint;
  private readonly api: BearerHttp;
  private readonly realmPath: string;

  constructor(
    readonly name: string,
    private readonly settings: KeycloakSettings,
    maxConnections: number,
  ) {
    this.http = new UpstreamHttp(name, this.table, settings.base_url, maxConnections);
    const realm = encodeURIComponent(settings.realm);
    const tokenUrl = settings.token_url ?? `${settings.base_url.replace(/\/+$/, "")}/realms/${realm}/protocol/openid-connect/token`;
    this.tokenEndpoint = new TokenEndpoint(name, this.table, tokenUrl);
    this.api = new BearerHttp(this.http, new OAuthTokenCache((signal) => this.fetchToken(signal)));
    this.realmPath = `/admin/realms/${realm}`;
  }

  async terminate(call: TerminateCall): Promise<TerminateResult> {
    if (call.allOfUser) return this.endAllOfUser(call);
    this.refuseId(call.sessionId, "session_id_invalid", "session_id");
    const offline = call.options["isOffline"] === "true" ? "?isOffline=true" : "";
    const { res, token } = await this.api.send({ method: "DELETE", path: `${this.realmPath}/sessions/${encodeURIComponent(call.sessionId)}${offline}`, signal: call.signal });
    if (!isSuccessStatus(res)) throw this.failure(answerOf(res), token);
    return endedNow();
  }

  async listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    this.refuseId(call.userId, "user_id_invalid", "user_id");
    const { res, token } = await this.api.send({ method: "GET", path: `${this.userPath(call.userId)}/sessions`, signal: call.signal });
    const listed = sessionsOf(res);
    if (!listed) throw this.failure(isSuccessStatus(res) ? undocumentedAnswer(res, "an array of UserSessionRepresentation") : answerOf(res), token);
    // Keycloak lists a user's live sessions only.
    return { sessions: listed.map((s) => ({ sessionId: s.id, userId: s.userId ?? call.userId, active: true })), complete: true };
  }

  async close(): Promise<void> {
    await Promise.all([this.http.close(), this.tokenEndpoint.close()]);
  }

  /** Counts the user's open sessions (when it can: the count is a report, the logout is the work), then ends them all with one logout. */
  private async endAllOfUser(call: TerminateCall): Promise<TerminateResult> {
    if (!call.userId) throw this.failure({ code: "user_id_missing", message: "user_id is required to end all of a user's sessions" });
    const open = await countOpenSessions(this.listUserSessions(call));
    const { res, token } = await this.api.send({ method: "POST", path: `${this.userPath(call.userId)}/logout`, signal: call.signal });
    if (!isSuccessStatus(res)) throw this.failure(answerOf(res), token);
    return { ...endedNow(), userId: call.userId, allOfUser: true, ...(open !== undefined && { sessionsEnded: open }) };
  }

  private userPath(userId: string): string {
    return `${this.realmPath}/users/${encodeURIComponent(userId)}`;
  }

  /** Refuses, before anything is sent, an id that could change the URL path. */
  private refuseId(id: string, code: string, field: string): void {
    const problem = pathIdProblem(id);
    if (problem) throw this.failure({ code, message: `${field} ${problem}` });
  }

  private async fetchToken(signal: AbortSignal): Promise<IssuedToken> {
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: this.settings.client_id, client_secret: this.settings.client_secret.reveal() });
    const token = await this.tokenEndpoint.request(form, signal);
    if ("message" in token) throw this.failure(token);
    return token;
  }

  /** A failure for the mapping layer, our secret and token cut out of the upstream's words. */
  private failure(answer: UpstreamAnswer, token?: string): ProviderFailure {
    return new ProviderFailure(this.name, withoutSecrets(answer, [this.settings.client_secret.reveal(), token]), this.table);
  }
}

/** The listed sessions; undefined when the answer is not a list of them. */
function sessionsOf(res: UpstreamResponse): ListedSession[] | undefined {
  if (!isSuccessStatus(res) || !Array.isArray(res.json)) return undefined;
  const list = res.json as unknown[];
  const valid = list.every((s) => typeof s === "object" && s !== null && typeof (s as ListedSession).id === "string");
  return valid ? (list as ListedSession[]) : undefined;
}

/**
 * The admin API's error answer: `{"error": "<message>"}`, or an OAuth `{"error": "<code>",
 * "error_description"}` from its bearer check, `{"errorMessage"}` from some admin checks, and
 * Retry-After from a proxy that limits the rate. (The token endpoint's answers are oauthTokenOf's.)
 */
function answerOf(res: UpstreamResponse): UpstreamAnswer {
  const body = (typeof res.json === "object" && res.json !== null ? res.json : {}) as { error?: unknown; error_description?: unknown; errorMessage?: unknown };
  const error = typeof body.error === "string" ? body.error : undefined;
  const code = error !== undefined && OAUTH_CODE.test(error) ? error : undefined;
  const words = [body.error_description, body.errorMessage, code === undefined ? error : undefined].find((w): w is string => typeof w === "string" && w !== "");
  const retryAfterMs = retryAfterOf(res);
  const base = words !== undefined || code !== undefined ? { httpStatus: res.status, message: words ?? code! } : undocumentedAnswer(res, "Keycloak's {error}");
  return { ...base, ...(code !== undefined && { code }), ...(retryAfterMs !== undefined && { retryAfterMs }) };
}

/** Provider type `keycloak`: base URL, realm, and the confidential client whose service account acts. */
export const keycloakType = defineProviderType({
  type: "keycloak",
  table: keycloakTable,
  settings: z.strictObject({
    base_url: baseUrl,
    realm: z.string().refine((r) => pathIdProblem(r) === undefined, "must be a realm name: 1 to 255 characters, no '/', '\\' or control characters, not '.' or '..'"),
    client_id: accountId,
    client_secret: secretRef,
    token_url: baseUrl.optional(),
  }),
  create: (name, settings, deps) => new KeycloakProvider(name, settings, deps.maxConnections),
});
