import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { googleTable } from "../../src/status/google.js";
import { closedPort } from "../helpers/closed-port.js";
import { FakeGoogle, googleError, JWT_BEARER, newServiceAccount, SIGN_OUT_SCOPE } from "../fakes/google.js";
import { userWideSuite, type RowCase } from "../helpers/user-wide-suite.js";

const ADMIN = "admin@acme.example";
const ACCOUNT = newServiceAccount();
/** The same account's email with another key: Google does not know that key. */
const STRANGER = newServiceAccount(ACCOUNT.clientEmail);
const PATH = (user: string) => `/admin/directory/v1/users/${user}/signOut`;

const apiError = (status: number, reason: string, message: string, grpc: string, headers?: Record<string, string>) => (f: FakeGoogle) =>
  f.answerApiOnce({ status, body: googleError(status, reason, message, grpc), ...(headers && { headers }) });
const tokenError = (status: number, error: string, description: string) => (f: FakeGoogle) => f.answerTokenOnce({ status, body: { error, error_description: description } });

const ROWS: RowCase<FakeGoogle>[] = [
  { name: "no user_id: nothing is sent", userId: "", code: Code.InvalidArgument, reason: "USER_ID_REQUIRED", metadata: { upstream_code: "user_id_missing", upstream_message: "user_id is required: Google Workspace ends all of a user's sessions, not one" }, signOuts: 0 },
  { name: "a user_id that could change the path: nothing is sent", userId: "..", code: Code.InvalidArgument, reason: "USER_ID_INVALID", metadata: { upstream_code: "user_id_invalid", upstream_message: 'user_id must not be "." or ".."' }, signOuts: 0 },
  {
    name: 'token endpoint 400 invalid_grant "Invalid email or User ID" (a subject the domain does not know)',
    settings: { subject: "nobody@acme.example" },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "400", upstream_code: "invalid_grant", upstream_message: "Invalid email or User ID" },
    signOuts: 0,
  },
  {
    name: 'token endpoint 400 invalid_grant "Invalid JWT Signature." (a key Google does not know)',
    settings: { service_account: "env:GOOGLE_STRANGER_KEY" },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "400", upstream_code: "invalid_grant", upstream_message: "Invalid JWT Signature." },
    signOuts: 0,
  },
  {
    name: "token endpoint 401 invalid_client",
    program: tokenError(401, "invalid_client", "The OAuth client was not found."),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_code: "invalid_client", upstream_message: "The OAuth client was not found." },
    signOuts: 0,
  },
  {
    name: "token endpoint 401 unauthorized_client (no domain-wide delegation)",
    program: tokenError(401, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested."),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "401", upstream_code: "unauthorized_client", upstream_message: "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested." },
    signOuts: 0,
  },
  {
    name: "token endpoint 403 access_denied",
    program: tokenError(403, "access_denied", "Requested client not authorized."),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "403", upstream_code: "access_denied", upstream_message: "Requested client not authorized." },
    signOuts: 0,
  },
  {
    name: "HTTP 404 notFound (the fake knows no such user)",
    userId: "ghost@acme.example",
    code: Code.NotFound,
    reason: "USER_NOT_FOUND",
    metadata: { upstream_status: "404", upstream_code: "notFound", upstream_message: "Resource Not Found: userKey" },
  },
  {
    name: "HTTP 400 invalid",
    program: apiError(400, "invalid", "Invalid Input: userKey", "INVALID_ARGUMENT"),
    code: Code.InvalidArgument,
    reason: "USER_ID_INVALID",
    metadata: { upstream_status: "400", upstream_code: "invalid", upstream_message: "Invalid Input: userKey" },
  },
  {
    name: "HTTP 403 userRateLimitExceeded with Retry-After: 11",
    program: apiError(403, "userRateLimitExceeded", "User Rate Limit Exceeded", "PERMISSION_DENIED", { "retry-after": "11" }),
    code: Code.Unavailable,
    reason: "UPSTREAM_RATE_LIMITED",
    metadata: { upstream_status: "403", upstream_code: "userRateLimitExceeded", upstream_message: "User Rate Limit Exceeded" },
    retryable: true,
    retryAfterSeconds: 11,
  },
  {
    name: "HTTP 429 rateLimitExceeded",
    program: apiError(429, "rateLimitExceeded", "Rate Limit Exceeded", "RESOURCE_EXHAUSTED"),
    code: Code.Unavailable,
    reason: "UPSTREAM_RATE_LIMITED",
    metadata: { upstream_status: "429", upstream_code: "rateLimitExceeded", upstream_message: "Rate Limit Exceeded" },
    retryable: true,
    retryAfterSeconds: 1,
  },
  {
    name: "HTTP 403 quotaExceeded",
    program: apiError(403, "quotaExceeded", "Quota exceeded for quota metric 'Queries'", "PERMISSION_DENIED"),
    code: Code.Unavailable,
    reason: "UPSTREAM_RATE_LIMITED",
    metadata: { upstream_status: "403", upstream_code: "quotaExceeded", upstream_message: "Quota exceeded for quota metric 'Queries'" },
    retryable: true,
  },
  {
    name: "HTTP 403 accessNotConfigured",
    program: apiError(403, "accessNotConfigured", "Admin SDK API has not been used in project 106000000000 before or it is disabled.", "PERMISSION_DENIED"),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "403", upstream_code: "accessNotConfigured", upstream_message: "Admin SDK API has not been used in project 106000000000 before or it is disabled." },
  },
  {
    name: "HTTP 403 forbidden",
    program: apiError(403, "forbidden", "Not Authorized to access this resource/api", "PERMISSION_DENIED"),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "403", upstream_code: "forbidden", upstream_message: "Not Authorized to access this resource/api" },
  },
  {
    name: "HTTP 403 insufficientPermissions",
    program: apiError(403, "insufficientPermissions", "Request had insufficient authentication scopes.", "PERMISSION_DENIED"),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "403", upstream_code: "insufficientPermissions", upstream_message: "Request had insufficient authentication scopes." },
  },
  {
    name: "HTTP 401 authError, again after one token refresh",
    program: (f) => {
      const a = { status: 401, body: googleError(401, "authError", "Invalid Credentials", "UNAUTHENTICATED") };
      f.answerApiOnce(a, a);
    },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_code: "authError", upstream_message: "Invalid Credentials" },
    signOuts: 2,
  },
  {
    name: "HTTP 403 with an HTML page",
    program: (f) => f.answerApiOnce({ status: 403, raw: "<html>Forbidden</html>" }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "403", upstream_message: "HTTP 403" },
  },
  {
    name: "HTTP 429 without a body, Retry-After as an HTTP date",
    program: (f) => f.answerApiOnce({ status: 429, raw: "", headers: { "retry-after": new Date(Date.now() + 30_500).toUTCString() } }),
    code: Code.Unavailable,
    reason: "UPSTREAM_RATE_LIMITED",
    metadata: { upstream_status: "429", upstream_message: "HTTP 429" },
    retryable: true,
  },
  {
    name: "HTTP 404 HTML page (wrong base_url)",
    settings: { base_url: "BASE/wrong" },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "404", upstream_message: "HTTP 404" },
  },
];

process.env["GOOGLE_KEY"] = "";
process.env["GOOGLE_STRANGER_KEY"] = "";

const ctx = userWideSuite({
  type: "google",
  table: googleTable,
  start: async () => {
    const fake = await FakeGoogle.start({ account: ACCOUNT, subject: ADMIN });
    // The key names the fake's token endpoint as its token_uri: token_url stays unset.
    process.env["GOOGLE_KEY"] = ACCOUNT.json(fake.tokenUri);
    process.env["GOOGLE_STRANGER_KEY"] = STRANGER.json(fake.tokenUri);
    for (const c of ROWS) if (typeof c.settings?.["base_url"] === "string") c.settings["base_url"] = c.settings["base_url"].replace("BASE", fake.url);
    return fake;
  },
  settings: (fake) => ({ service_account: "env:GOOGLE_KEY", subject: ADMIN, base_url: fake.url }),
  signOutPath: PATH,
  secrets: () => [JSON.parse(ACCOUNT.json()).private_key as string],
  rows: ROWS,
  bodyCases: [
    [
      "HTTP 200 with an error object",
      { body: googleError(403, "forbidden", "Not Authorized to access this resource/api", "PERMISSION_DENIED") },
      { code: Code.FailedPrecondition, reason: "PROVIDER_PERMISSION_MISSING", metadata: { upstream_status: "200", upstream_code: "forbidden", upstream_message: "Not Authorized to access this resource/api" } },
    ],
    [
      "HTTP 200 with an HTML page",
      { raw: "<html>ok</html>" },
      { code: Code.Unknown, reason: "UPSTREAM_MALFORMED_ANSWER", metadata: { upstream_status: "200", upstream_code: "transport.malformed", upstream_message: "HTTP 200 with a body that is not an empty body" } },
    ],
    [
      "HTTP 503 backendError (the common 5xx row)",
      { status: 503, body: googleError(503, "backendError", "Service unavailable. Please try again", "UNAVAILABLE") },
      { code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", metadata: { upstream_status: "503", upstream_code: "backendError", upstream_message: "Service unavailable. Please try again" }, retryable: true },
    ],
    [
      "an error object with status only (no errors[])",
      { status: 404, body: { error: { code: 404, message: "Requested entity was not found.", status: "NOT_FOUND" } } },
      { code: Code.FailedPrecondition, reason: "PROVIDER_MISCONFIGURED", metadata: { upstream_status: "404", upstream_code: "NOT_FOUND", upstream_message: "Requested entity was not found." } },
    ],
  ],
  more: () => {
    describe("google: request shapes", () => {
      it("signs an RS256 JWT for the service account as the admin, exchanges it at the key's token_uri, and POSTs signOut with the bearer token and no body", async () => {
        const fake = ctx.fake();
        fake.users.add("carol@acme.example");
        const before = Math.floor(Date.now() / 1000);
        await ctx.terminate("carol@acme.example", "google-shape");
        const [token, signOut] = fake.requests;
        expect(token!.method).toBe("POST");
        expect(token!.path).toBe("/token");
        expect(token!.headers["content-type"]).toBe("application/x-www-form-urlencoded");
        expect(token!.headers.authorization).toBeUndefined();
        expect(Object.keys(token!.form!).sort()).toEqual(["assertion", "grant_type"]);
        expect(token!.form!["grant_type"]).toBe(JWT_BEARER);
        const [seen] = fake.assertions;
        expect(seen!.header).toEqual({ alg: "RS256", typ: "JWT", kid: ACCOUNT.keyId });
        const { iat, exp, ...claims } = seen!.claims as { iat: number; exp: number };
        expect(claims).toEqual({ iss: ACCOUNT.clientEmail, sub: ADMIN, aud: fake.tokenUri, scope: SIGN_OUT_SCOPE });
        expect(iat).toBeGreaterThanOrEqual(before);
        expect(exp - iat).toBe(3600);
        expect(signOut!.method).toBe("POST");
        expect(signOut!.path).toBe(PATH("carol%40acme.example"));
        expect(signOut!.headers.authorization).toBe(`Bearer ${fake.issued.at(-1)}`);
        expect(signOut!.text).toBe("");
        expect(fake.signedOut.get("carol@acme.example")).toBe(1);
      });
    });

    describe("google: the signed assertion", () => {
      it("is cut out of a token endpoint error that echoes it: no part of it in the error", async () => {
        let sent = "";
        ctx.fake().answerTokenOnce((r) => {
          sent = r.form!["assertion"]!;
          return { status: 400, body: { error: "invalid_grant", error_description: `assertion ${sent} refused; claims ${sent.split(".")[1]}` } };
        });
        const err = await ctx.failure(ctx.terminate("alice@example.com", "t-echo-token"));
        const info = err.findDetails(ErrorInfoSchema)[0]!;
        expect(info.metadata["upstream_message"]).toBe("assertion [secret] refused; claims [secret]");
        const [, claims, signature] = sent.split(".");
        for (const part of [sent, claims!, signature!]) for (const text of [err.rawMessage, JSON.stringify(info.metadata)]) expect(text).not.toContain(part);
      });
    });

    describe("google: settings", () => {
      const entry = (extra: Record<string, unknown>) => ({ providers: [{ name: "g", type: "google", service_account: "env:GOOGLE_KEY", subject: ADMIN, ...extra }] });
      it("token_url wins over the key's token_uri; base_url defaults to admin.googleapis.com", async () => {
        const config = parseConfig(entry({ token_url: `http://127.0.0.1:${await closedPort()}/token` }));
        expect(config.providers[0]).toMatchObject({ base_url: "https://admin.googleapis.com", token_url: expect.stringMatching(/\/token$/) });
      });
      it.each([
        ["not JSON", "not json", "must name a service account's JSON key, with client_email and private_key"],
        ["no private_key", JSON.stringify({ client_email: "a@b" }), "must name a service account's JSON key, with client_email and private_key"],
        ["a private_key that is not PEM", JSON.stringify({ client_email: "a@b", private_key: "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n" }), "private_key of the service account's key is not a PEM private key"],
      ])("refuses a key file that is %s, naming the key", (_name, text, message) => {
        process.env["GOOGLE_BAD_KEY"] = text;
        expect(() => parseConfig(entry({ service_account: "env:GOOGLE_BAD_KEY" }))).toThrow(message);
      });
    });
  },
});
