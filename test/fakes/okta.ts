import { verify, type KeyObject } from "node:crypto";
import type { FakeAnswer, RecordedRequest } from "./http-fake.js";
import { TokenApiFake } from "./token-api-fake.js";

export interface OktaFakeOptions {
  /** The API token accepted as `SSWS <token>`. */
  apiToken: string;
  /** The service app's client id and the public half of its key (RS256 or ES256 assertions). */
  clientId: string;
  publicKey: KeyObject;
}

/** A client assertion as the fake received it. */
export interface ReceivedAssertion {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** Okta's error body (developer.okta.com/docs/reference/error-codes). */
export function oktaError(errorCode: string, errorSummary: string, errorCauses: string[] = []): Record<string, unknown> {
  return { errorCode, errorSummary, errorLink: errorCode, errorId: `oae${Math.random().toString(36).slice(2, 14)}`, errorCauses: errorCauses.map((s) => ({ errorSummary: s })) };
}

const TOKEN_PATH = "/oauth2/v1/token";
const SCOPES = "okta.sessions.manage okta.users.manage";

/**
 * An Okta org on 127.0.0.1, port 0: `DELETE /api/v1/sessions/{id}`, `DELETE
 * /api/v1/users/{id}/sessions`, SSWS API tokens, and the org authorization server's token
 * endpoint for a service app (client credentials with a private-key JWT, verified here).
 */
export class FakeOkta extends TokenApiFake {
  /** Sessions it knows, by id: whose, and whether still live. */
  readonly sessions = new Map<string, { userId: string; live: boolean }>();
  /** Users it knows. */
  readonly users = new Set<string>();
  /** Client assertions received, in order. */
  readonly assertions: ReceivedAssertion[] = [];
  private readonly jtis = new Set<string>();

  private constructor(private readonly options: OktaFakeOptions) {
    super();
  }

  static start(options: OktaFakeOptions): Promise<FakeOkta> {
    return new FakeOkta(options).listen();
  }

  /** A live session of `userId` (known from now on). */
  addSession(userId: string, sessionId: string): void {
    this.users.add(userId);
    this.sessions.set(sessionId, { userId, live: true });
  }

  /** The user's live sessions. */
  liveSessionsOf(userId: string): string[] {
    return [...this.sessions].filter(([, s]) => s.userId === userId && s.live).map(([id]) => id);
  }

  override reset(): void {
    super.reset();
    this.sessions.clear();
    this.users.clear();
    this.assertions.length = 0;
  }

  protected isTokenRequest(r: RecordedRequest): boolean {
    return r.method === "POST" && r.pathname === TOKEN_PATH;
  }

  protected refuseTokenRequest(r: RecordedRequest): FakeAnswer | undefined {
    const f = r.form ?? {};
    const refuse = (error: string, description: string, status = 401): FakeAnswer => ({ status, body: { error, error_description: description } });
    if (f["grant_type"] !== "client_credentials") return refuse("unsupported_grant_type", "The authorization grant type is not supported by the authorization server.", 400);
    if (f["client_assertion_type"] !== "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") return refuse("invalid_client", "Client authentication failed.");
    const assertion = this.verifyAssertion(f["client_assertion"] ?? "");
    if (typeof assertion === "string") return refuse("invalid_client", assertion);
    if (f["scope"] !== SCOPES) return refuse("invalid_scope", "The following scopes are not allowed: " + (f["scope"] ?? ""), 400);
    return undefined;
  }

  /** The SSWS API token. */
  protected override acceptsOtherCredential(r: RecordedRequest): boolean {
    return r.headers.authorization === `SSWS ${this.options.apiToken}`;
  }

  protected unauthorized(presented: boolean): FakeAnswer {
    const challenge = presented ? { "www-authenticate": `Bearer authorization_uri="${this.url}/oauth2/v1/authorize", realm="${this.url}", error="invalid_token", error_description="The token is not valid."` } : undefined;
    return { status: 401, body: oktaError("E0000011", "Invalid token provided"), ...(challenge && { headers: challenge }) };
  }

  protected api(r: RecordedRequest): FakeAnswer {
    const one = /^\/api\/v1\/sessions\/([^/]+)$/.exec(r.pathname);
    if (r.method === "DELETE" && one) {
      const id = decodeURIComponent(one[1]!);
      const session = this.sessions.get(id);
      if (!session?.live) return { status: 404, body: oktaError("E0000007", `Not found: Resource not found: ${id} (Session)`) };
      session.live = false;
      return { status: 204, raw: "" };
    }
    const all = /^\/api\/v1\/users\/([^/]+)\/sessions$/.exec(r.pathname);
    if (r.method === "DELETE" && all) {
      const userId = decodeURIComponent(all[1]!);
      if (!this.users.has(userId)) return { status: 404, body: oktaError("E0000007", `Not found: Resource not found: ${userId} (User)`) };
      for (const s of this.sessions.values()) if (s.userId === userId) s.live = false;
      return { status: 204, raw: "" };
    }
    return { status: 404, raw: "<html><body>Not Found</body></html>" };
  }

  /** The assertion's claims, or why it is refused (RFC 7523 §3, Okta's private_key_jwt rules). */
  private verifyAssertion(jwt: string): ReceivedAssertion | string {
    const [h, p, s] = jwt.split(".");
    if (!h || !p || !s) return "The client_assertion is not a JWT.";
    const header = JSON.parse(Buffer.from(h, "base64url").toString()) as Record<string, unknown>;
    const payload = JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>;
    this.assertions.push({ header, payload });
    const key = this.options.publicKey;
    const ok =
      header["alg"] === "RS256" ? verify("sha256", Buffer.from(`${h}.${p}`), key, Buffer.from(s, "base64url")) : header["alg"] === "ES256" && verify("sha256", Buffer.from(`${h}.${p}`), { key, dsaEncoding: "ieee-p1363" }, Buffer.from(s, "base64url"));
    if (!ok) return "The client_assertion signature is invalid.";
    const now = Date.now() / 1000;
    if (payload["iss"] !== this.options.clientId || payload["sub"] !== this.options.clientId) return "The client_assertion token has an invalid issuer or subject.";
    if (payload["aud"] !== `${this.url}${TOKEN_PATH}`) return "The audience claim for client_assertion must be the endpoint invoked for the request.";
    if (typeof payload["exp"] !== "number" || payload["exp"] <= now || payload["exp"] - now > 3600) return "The client_assertion token is expired, or valid for more than an hour.";
    if (typeof payload["jti"] !== "string" || this.jtis.has(payload["jti"])) return "The client_assertion token has already been used.";
    this.jtis.add(payload["jti"]);
    return { header, payload };
  }
}
