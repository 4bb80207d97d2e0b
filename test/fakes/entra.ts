import { randomUUID } from "node:crypto";
import type { FakeAnswer, RecordedRequest } from "./http-fake.js";
import { TokenApiFake } from "./token-api-fake.js";

export interface FakeEntraOptions {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export const GRAPH_SCOPE = "https://graph.microsoft.com/.default";
/** Graph's success body for revokeSignInSessions (user-revokesigninsessions, "Response"). */
export const REVOKED = { "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", value: true };

/** An AADSTS answer of the token endpoint, in the documented shape. */
export function aadsts(error: string, code: number, description: string): Record<string, unknown> {
  const trace = randomUUID();
  return {
    error,
    error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${trace}\r\nCorrelation ID: ${randomUUID()}\r\nTimestamp: 2026-01-09 02:02:12Z`,
    error_codes: [code],
    timestamp: "2026-01-09 02:02:12Z",
    trace_id: trace,
    correlation_id: randomUUID(),
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  };
}

/** A Microsoft Graph error answer, in the documented shape. */
export function graphError(code: string, message: string): Record<string, unknown> {
  return { error: { code, message, innerError: { date: "2026-01-09T02:02:12", "request-id": randomUUID(), "client-request-id": randomUUID() } } };
}

/**
 * Microsoft Entra ID on 127.0.0.1, port 0: the identity platform's token endpoint (client
 * credentials, `/{tenant}/oauth2/v2.0/token`) and Graph's `POST /v1.0/users/{id}/revokeSignInSessions`
 * on the same port (login_url and graph_url both point here). Users it knows are in `users`
 * (object ids and userPrincipalNames alike); each revocation is counted in `revoked`.
 */
export class FakeEntra extends TokenApiFake {
  readonly users = new Set<string>();
  /** Revocations per user. */
  readonly revoked = new Map<string, number>();

  private constructor(private readonly options: FakeEntraOptions) {
    super();
  }

  static start(options: FakeEntraOptions): Promise<FakeEntra> {
    return new FakeEntra(options).listen();
  }

  override reset(): void {
    super.reset();
    this.users.clear();
    this.revoked.clear();
  }

  protected isTokenRequest(r: RecordedRequest): boolean {
    return r.method === "POST" && /^\/[^/]+\/oauth2\/v2\.0\/token$/.test(r.pathname);
  }

  protected refuseTokenRequest(r: RecordedRequest): FakeAnswer | undefined {
    const f = r.form ?? {};
    const tenant = decodeURIComponent(r.pathname.split("/")[1]!);
    if (tenant !== this.options.tenantId) return { status: 400, body: aadsts("invalid_request", 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`) };
    if (f["grant_type"] !== "client_credentials") return { status: 400, body: aadsts("unsupported_grant_type", 70003, "The app requested an unsupported grant type.") };
    if (f["client_id"] !== this.options.clientId) return { status: 400, body: aadsts("unauthorized_client", 700016, `Application with identifier '${f["client_id"]}' was not found in the directory.`) };
    if (f["client_secret"] !== this.options.clientSecret) return { status: 401, body: aadsts("invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.") };
    if (f["scope"] !== GRAPH_SCOPE) return { status: 400, body: aadsts("invalid_scope", 70011, `The provided value for the input parameter 'scope' is not valid. The scope ${f["scope"]} is not valid.`) };
    return undefined;
  }

  protected unauthorized(presented: boolean): FakeAnswer {
    const message = presented ? "Access token has expired or is not yet valid." : "Access token is empty.";
    return { status: 401, body: graphError("InvalidAuthenticationToken", message), headers: { "www-authenticate": 'Bearer realm="", error="invalid_token"' } };
  }

  protected api(r: RecordedRequest): FakeAnswer {
    const m = /^\/v1\.0\/users\/([^/]+)\/revokeSignInSessions$/.exec(r.pathname);
    if (r.method !== "POST" || !m) return { status: 400, body: graphError("BadRequest", `Resource not found for the segment '${r.pathname.split("/").pop()}'.`) };
    const user = decodeURIComponent(m[1]!);
    if (!this.users.has(user)) return { status: 404, body: graphError("Request_ResourceNotFound", `Resource '${user}' does not exist or one of its queried reference-property objects are not present.`) };
    this.revoked.set(user, (this.revoked.get(user) ?? 0) + 1);
    return { body: REVOKED };
  }
}
