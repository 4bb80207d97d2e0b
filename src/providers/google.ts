import { createPrivateKey, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import { z } from "zod";
import { secretRef } from "../config/secret.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { googleTable } from "../status/google.js";
import { assertionParts } from "./client-assertion.js";
import { errorObjectAnswer, objectOf } from "./error-object.js";
import { baseUrl } from "./provider-settings.js";
import { defineProviderType } from "./provider-type.js";
import { isSuccessStatus } from "./upstream-answer.js";
import type { UpstreamResponse } from "./upstream-http.js";
import { UserWideProvider } from "./user-wide.js";

/** Google's token endpoint when neither token_url nor the key's token_uri names one. */
export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
/** The one scope users.signOut needs. */
export const SIGN_OUT_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.security";
/** The JWT bearer grant (RFC 7523). */
export const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** Lifetime of a signed assertion: Google takes at most one hour. */
const ASSERTION_SECONDS = 3600;

/** The parts of a service account's JSON key that are used. */
export interface ServiceAccountKey {
  clientEmail: string;
  privateKey: KeyObject;
  /** `private_key_id`, sent as the assertion's `kid`. */
  keyId?: string;
  /** `token_uri`. */
  tokenUri?: string;
  /** The PEM text, to cut out of any message that echoes it. */
  pem: string;
}

export interface GoogleSettings {
  service_account: ServiceAccountKey;
  /** The admin the service account acts as (domain-wide delegation). */
  subject: string;
  /** The Admin SDK, e.g. https://admin.googleapis.com. */
  base_url: string;
  /** The token endpoint; default the key's token_uri, else GOOGLE_TOKEN_URL. */
  token_url?: string | undefined;
}

/**
 * Provider type `google`: Google Workspace through the Admin SDK Directory API. `POST
 * /admin/directory/v1/users/{userKey}/signOut` (empty body, 204) signs the user out of every web
 * and device session. The token comes from a service account with domain-wide delegation: an
 * RS256 JWT (iss its client_email, sub the admin, the admin.directory.user.security scope) signed
 * with jose and exchanged at the token endpoint (JWT bearer grant).
 */
export class GoogleProvider extends UserWideProvider {
  readonly type = "google";
  private readonly tokenUrl: string;

  constructor(
    name: string,
    private readonly settings: GoogleSettings,
    maxConnections: number,
  ) {
    const tokenUrl = settings.token_url ?? settings.service_account.tokenUri ?? GOOGLE_TOKEN_URL;
    super(name, googleTable, { apiUrl: settings.base_url, tokenUrl, maxConnections }, "Google Workspace");
    this.tokenUrl = tokenUrl;
  }

  protected signOutPath(user: string): string {
    return `/admin/directory/v1/users/${user}/signOut`;
  }

  /** 204 with no body is documented; any other 2xx without an error body is taken as success too. */
  protected signOutFailure(res: UpstreamResponse): UpstreamAnswer | undefined {
    const body = objectOf(res.json);
    if (isSuccessStatus(res) && (res.text.trim() === "" || (body !== undefined && body["error"] === undefined))) return undefined;
    return errorObjectAnswer(res, reasonOf, "an empty body");
  }

  protected async tokenRequest(): Promise<{ path: string; form: URLSearchParams; echoable: string[] }> {
    const key = this.settings.service_account;
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: SIGN_OUT_SCOPE })
      .setProtectedHeader({ alg: "RS256", typ: "JWT", ...(key.keyId !== undefined && { kid: key.keyId }) })
      .setIssuer(key.clientEmail)
      .setSubject(this.settings.subject)
      .setAudience(this.tokenUrl)
      .setIssuedAt(now)
      .setExpirationTime(now + ASSERTION_SECONDS)
      .sign(key.privateKey);
    return { path: "", form: new URLSearchParams({ grant_type: JWT_BEARER, assertion }), echoable: assertionParts(assertion) };
  }

  protected secrets(): string[] {
    return [this.settings.service_account.pem];
  }
}

/** `error.errors[0].reason` (notFound, forbidden, ...); else the gRPC-style `error.status`. */
function reasonOf(error: Record<string, unknown>): string | undefined {
  const first = Array.isArray(error["errors"]) ? objectOf(error["errors"][0]) : undefined;
  if (typeof first?.["reason"] === "string") return first["reason"];
  return typeof error["status"] === "string" ? error["status"] : undefined;
}

/** A reference to a service account's JSON key (as Google's console downloads it), read and checked once. */
const serviceAccountKey = secretRef.transform((secret, ctx): ServiceAccountKey => {
  let json: Record<string, unknown> | undefined;
  try {
    json = objectOf(JSON.parse(secret.reveal()));
  } catch {
    json = undefined;
  }
  const email = json?.["client_email"];
  const pem = json?.["private_key"];
  if (!json || typeof email !== "string" || email === "" || typeof pem !== "string") {
    ctx.addIssue({ code: "custom", message: "must name a service account's JSON key, with client_email and private_key" });
    return z.NEVER;
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    ctx.addIssue({ code: "custom", message: "private_key of the service account's key is not a PEM private key" });
    return z.NEVER;
  }
  if (privateKey.asymmetricKeyType !== "rsa") {
    ctx.addIssue({ code: "custom", message: "private_key of the service account's key must be an RSA key (RS256)" });
    return z.NEVER;
  }
  const tokenUri = json["token_uri"];
  if (tokenUri !== undefined && !baseUrl.safeParse(tokenUri).success) {
    ctx.addIssue({ code: "custom", message: "token_uri of the service account's key must be an http(s) URL" });
    return z.NEVER;
  }
  const keyId = json["private_key_id"];
  return { clientEmail: email, privateKey, pem, ...(typeof keyId === "string" && keyId !== "" && { keyId }), ...(typeof tokenUri === "string" && { tokenUri }) };
});

/** Provider type `google`: the service account's key, the admin it acts as, and where the API and the token endpoint are. */
export const googleType = defineProviderType({
  type: "google",
  table: googleTable,
  settings: z.strictObject({
    service_account: serviceAccountKey,
    subject: z.string().min(3).max(320).regex(/^[^\s@]+@[^\s@]+$/, "must be the email address of a Workspace admin"),
    base_url: baseUrl.default("https://admin.googleapis.com"),
    token_url: baseUrl.optional(),
  }),
  create: (name, settings, deps) => new GoogleProvider(name, settings, deps.maxConnections),
});
