import { generateKeyPairSync, verify, type KeyObject } from "node:crypto";
import type { FakeAnswer, RecordedRequest } from "./http-fake.js";
import { TokenApiFake } from "./token-api-fake.js";

export const SIGN_OUT_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.security";
export const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** A service account and its key, as Google's console downloads it (a JSON file). */
export interface ServiceAccount {
  clientEmail: string;
  keyId: string;
  publicKey: KeyObject;
  /** The JSON key file's text; `tokenUri` is its token_uri. */
  json(tokenUri?: string): string;
}

/** A new service account with a fresh 2048-bit RSA key. */
export function newServiceAccount(clientEmail = "session-control@acme-project.iam.gserviceaccount.com"): ServiceAccount {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyId = "0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4";
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return {
    clientEmail,
    keyId,
    publicKey,
    json: (tokenUri = "https://oauth2.googleapis.com/token") =>
      JSON.stringify({
        type: "service_account",
        project_id: "acme-project",
        private_key_id: keyId,
        private_key: pem,
        client_email: clientEmail,
        client_id: "106000000000000000001",
        auth_uri: "https://accounts.google.com/o/oauth2/auth",
        token_uri: tokenUri,
      }),
  };
}

/** A Google API error answer, in the documented shape. */
export function googleError(code: number, reason: string, message: string, status: string): Record<string, unknown> {
  return { error: { code, message, errors: [{ message, domain: "global", reason }], status } };
}

export interface FakeGoogleOptions {
  account: ServiceAccount;
  /** The admin the account may act as (domain-wide delegation). */
  subject: string;
}

/** The claims of the last assertion the token endpoint accepted, with its header. */
export interface SeenAssertion {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/**
 * Google Workspace on 127.0.0.1, port 0: Google's OAuth 2.0 token endpoint (`POST /token`, the JWT
 * bearer grant, the assertion's RS256 signature checked with the account's public key) and the
 * Admin SDK's `POST /admin/directory/v1/users/{userKey}/signOut` on the same port. Users it knows
 * are in `users` (emails and ids alike); each sign-out is counted in `signedOut`.
 */
export class FakeGoogle extends TokenApiFake {
  readonly users = new Set<string>();
  readonly signedOut = new Map<string, number>();
  readonly assertions: SeenAssertion[] = [];

  private constructor(private readonly options: FakeGoogleOptions) {
    super();
  }

  static start(options: FakeGoogleOptions): Promise<FakeGoogle> {
    return new FakeGoogle(options).listen();
  }

  get tokenUri(): string {
    return `${this.url}/token`;
  }

  override reset(): void {
    super.reset();
    this.users.clear();
    this.signedOut.clear();
    this.assertions.length = 0;
  }

  protected isTokenRequest(r: RecordedRequest): boolean {
    return r.method === "POST" && r.pathname === "/token";
  }

  protected refuseTokenRequest(r: RecordedRequest): FakeAnswer | undefined {
    const f = r.form ?? {};
    const grant = (description: string, status = 400): FakeAnswer => ({ status, body: { error: "invalid_grant", error_description: description } });
    if (f["grant_type"] !== JWT_BEARER) return { status: 400, body: { error: "unsupported_grant_type", error_description: `Invalid grant_type: ${f["grant_type"] ?? ""}` } };
    const parts = (f["assertion"] ?? "").split(".");
    if (parts.length !== 3) return grant("Invalid JWT: Token must be a short-lived token and in a reasonable timeframe");
    const [h, c, s] = parts as [string, string, string];
    const ok = verify("RSA-SHA256", Buffer.from(`${h}.${c}`), this.options.account.publicKey, Buffer.from(s, "base64url"));
    if (!ok) return grant("Invalid JWT Signature.");
    const header = JSON.parse(Buffer.from(h, "base64url").toString()) as Record<string, unknown>;
    const claims = JSON.parse(Buffer.from(c, "base64url").toString()) as Record<string, unknown>;
    const now = Date.now() / 1000;
    if (header["alg"] !== "RS256" || header["kid"] !== this.options.account.keyId) return grant("Invalid JWT Signature.");
    if (claims["iss"] !== this.options.account.clientEmail) return { status: 401, body: { error: "invalid_client", error_description: "The OAuth client was not found." } };
    if (claims["aud"] !== this.tokenUri) return grant("Invalid JWT: Failed audience check.");
    const iat = Number(claims["iat"]);
    const exp = Number(claims["exp"]);
    if (!(Math.abs(iat - now) < 300 && exp > now && exp - iat <= 3600)) return grant("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.");
    if (claims["sub"] !== this.options.subject) return grant("Invalid email or User ID");
    if (claims["scope"] !== SIGN_OUT_SCOPE) {
      return { status: 401, body: { error: "unauthorized_client", error_description: "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested." } };
    }
    this.assertions.push({ header, claims });
    return undefined;
  }

  protected unauthorized(): FakeAnswer {
    return {
      status: 401,
      body: {
        error: {
          code: 401,
          message: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
          errors: [{ message: "Invalid Credentials", domain: "global", reason: "authError", location: "Authorization", locationType: "header" }],
          status: "UNAUTHENTICATED",
        },
      },
      headers: { "www-authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
    };
  }

  protected api(r: RecordedRequest): FakeAnswer {
    const m = /^\/admin\/directory\/v1\/users\/([^/]+)\/signOut$/.exec(r.pathname);
    if (r.method !== "POST" || !m) return { status: 404, raw: "<!DOCTYPE html><html><title>Error 404 (Not Found)!!1</title></html>" };
    const user = decodeURIComponent(m[1]!);
    if (!this.users.has(user)) return { status: 404, body: googleError(404, "notFound", "Resource Not Found: userKey", "NOT_FOUND") };
    this.signedOut.set(user, (this.signedOut.get(user) ?? 0) + 1);
    return { status: 204, raw: "" };
  }
}
