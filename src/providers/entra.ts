import { z } from "zod";
import { secretRef, type Secret } from "../config/secret.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { entraTable } from "../status/entra.js";
import { errorObjectAnswer, objectOf } from "./error-object.js";
import { accountId, baseUrl } from "./provider-settings.js";
import { defineProviderType } from "./provider-type.js";
import { isSuccessStatus } from "./upstream-answer.js";
import type { UpstreamResponse } from "./upstream-http.js";
import { UserWideProvider } from "./user-wide.js";

export interface EntraSettings {
  /** The directory (tenant) id, a GUID, or one of its domain names. */
  tenant_id: string;
  client_id: string;
  client_secret: Secret;
  /** Microsoft Graph, e.g. https://graph.microsoft.com (or a national cloud's). */
  graph_url: string;
  /** The Microsoft identity platform, e.g. https://login.microsoftonline.com. */
  login_url: string;
  /** The client-credentials scope: the Graph resource's `/.default`. */
  scope: string;
}

const DOCUMENTED = '{"@odata.context", "value": true} or no body';

/**
 * Provider type `entra`: Microsoft Entra ID through Microsoft Graph. `POST
 * /v1.0/users/{id | userPrincipalName}/revokeSignInSessions` invalidates every refresh token and
 * session cookie of the user; the token is the app's own (client credentials, application
 * permission User.RevokeSessions.All).
 */
export class EntraProvider extends UserWideProvider {
  readonly type = "entra";

  constructor(
    name: string,
    private readonly settings: EntraSettings,
    maxConnections: number,
  ) {
    super(name, entraTable, { apiUrl: settings.graph_url, tokenUrl: settings.login_url, maxConnections }, "Microsoft Entra ID");
  }

  protected signOutPath(user: string): string {
    return `/v1.0/users/${user}/revokeSignInSessions`;
  }

  /** Graph answers 200 `{"value": true}`; its known-issues page says 204 is what is meant: both are success. */
  protected signOutFailure(res: UpstreamResponse): UpstreamAnswer | undefined {
    if (isSuccessStatus(res) && (res.text.trim() === "" || objectOf(res.json)?.["value"] === true)) return undefined;
    return errorObjectAnswer(res, (e) => (typeof e["code"] === "string" ? e["code"] : undefined), DOCUMENTED);
  }

  protected async tokenRequest(): Promise<{ path: string; form: URLSearchParams }> {
    const s = this.settings;
    const form = new URLSearchParams({ grant_type: "client_credentials", client_id: s.client_id, client_secret: s.client_secret.reveal(), scope: s.scope });
    return { path: `/${encodeURIComponent(s.tenant_id)}/oauth2/v2.0/token`, form };
  }

  protected secrets(): string[] {
    return [this.settings.client_secret.reveal()];
  }
}

/** Provider type `entra`: the tenant, the app's client credentials, and where Graph and the token endpoint are. */
export const entraType = defineProviderType({
  type: "entra",
  table: entraTable,
  settings: z.strictObject({
    tenant_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$/, "must be the tenant's id (a GUID) or one of its domain names"),
    client_id: accountId,
    client_secret: secretRef,
    graph_url: baseUrl.default("https://graph.microsoft.com"),
    login_url: baseUrl.default("https://login.microsoftonline.com"),
    scope: z.string().min(1).max(500).default("https://graph.microsoft.com/.default"),
  }),
  create: (name, settings, deps) => new EntraProvider(name, settings, deps.maxConnections),
});
