import { randomUUID } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { entraTable } from "../../src/status/entra.js";
import { aadsts, FakeEntra, GRAPH_SCOPE, graphError, REVOKED } from "../fakes/entra.js";
import { userWideSuite, type RowCase } from "../helpers/user-wide-suite.js";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e";
const SECRET = `entra-secret-${randomUUID()}`;
process.env["ENTRA_SECRET"] = SECRET;
process.env["ENTRA_WRONG_SECRET"] = `entra-wrong-${randomUUID()}`;

const PATH = (user: string) => `/v1.0/users/${user}/revokeSignInSessions`;
const aadMessage = (code: number) => expect.stringMatching(new RegExp(`^AADSTS${code}: `));

const ROWS: RowCase<FakeEntra>[] = [
  { name: "no user_id: nothing is sent", userId: "", code: Code.InvalidArgument, reason: "USER_ID_REQUIRED", metadata: { upstream_code: "user_id_missing", upstream_message: "user_id is required: Microsoft Entra ID ends all of a user's sessions, not one" }, signOuts: 0 },
  { name: "a user_id that could change the path: nothing is sent", userId: "../x", code: Code.InvalidArgument, reason: "USER_ID_INVALID", metadata: { upstream_code: "user_id_invalid", upstream_message: "user_id must not contain '/' or '\\'" }, signOuts: 0 },
  {
    name: "token endpoint 401 invalid_client AADSTS7000215 (wrong client_secret)",
    settings: { client_secret: "env:ENTRA_WRONG_SECRET" },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_code: "invalid_client", upstream_message: aadMessage(7000215) },
    signOuts: 0,
  },
  {
    name: "token endpoint 400 unauthorized_client AADSTS700016 (no such client_id)",
    settings: { client_id: "00000000-0000-0000-0000-00000000dead" },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "400", upstream_code: "unauthorized_client", upstream_message: aadMessage(700016) },
    signOuts: 0,
  },
  {
    name: "token endpoint 400 invalid_request AADSTS90002 (no such tenant)",
    settings: { tenant_id: "contoso.onmicrosoft.com" },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "400", upstream_code: "invalid_request", upstream_message: aadMessage(90002) },
    signOuts: 0,
  },
  {
    name: "token endpoint 400 invalid_scope AADSTS70011",
    settings: { scope: "https://graph.microsoft.com/User.Read" },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "400", upstream_code: "invalid_scope", upstream_message: aadMessage(70011) },
    signOuts: 0,
  },
  {
    name: "token endpoint 400 invalid_request, another AADSTS code",
    program: (f) => f.answerTokenOnce({ status: 400, body: aadsts("invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.") }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "400", upstream_code: "invalid_request", upstream_message: aadMessage(900144) },
    signOuts: 0,
  },
  {
    name: "HTTP 404 Request_ResourceNotFound (the fake knows no such user)",
    userId: "nobody@example.com",
    code: Code.NotFound,
    reason: "USER_NOT_FOUND",
    metadata: { upstream_status: "404", upstream_code: "Request_ResourceNotFound", upstream_message: "Resource 'nobody@example.com' does not exist or one of its queried reference-property objects are not present." },
  },
  {
    name: "HTTP 400 Request_BadRequest",
    program: (f) => f.answerApiOnce({ status: 400, body: graphError("Request_BadRequest", "Invalid object identifier 'x'.") }),
    code: Code.InvalidArgument,
    reason: "USER_ID_INVALID",
    metadata: { upstream_status: "400", upstream_code: "Request_BadRequest", upstream_message: "Invalid object identifier 'x'." },
  },
  {
    name: "HTTP 403 Authorization_RequestDenied",
    program: (f) => f.answerApiOnce({ status: 403, body: graphError("Authorization_RequestDenied", "Insufficient privileges to complete the operation.") }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "403", upstream_code: "Authorization_RequestDenied", upstream_message: "Insufficient privileges to complete the operation." },
  },
  {
    name: "HTTP 401 InvalidAuthenticationToken, again after one token refresh",
    program: (f) => {
      const a = { status: 401, body: graphError("InvalidAuthenticationToken", "Access token validation failure. Invalid audience.") };
      f.answerApiOnce(a, a);
    },
    code: Code.FailedPrecondition,
    reason: "PROVIDER_CREDENTIALS_REJECTED",
    metadata: { upstream_status: "401", upstream_code: "InvalidAuthenticationToken", upstream_message: "Access token validation failure. Invalid audience." },
    signOuts: 2,
  },
  {
    name: "HTTP 403 Authorization_IdentityNotFound",
    program: (f) => f.answerApiOnce({ status: 403, body: graphError("Authorization_IdentityNotFound", "The identity of the calling application could not be established.") }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_PERMISSION_MISSING",
    metadata: { upstream_status: "403", upstream_code: "Authorization_IdentityNotFound", upstream_message: "The identity of the calling application could not be established." },
  },
  {
    name: "HTTP 429 TooManyRequests with Retry-After: 7",
    program: (f) => f.answerApiOnce({ status: 429, headers: { "retry-after": "7" }, body: graphError("TooManyRequests", "Too many requests.") }),
    code: Code.Unavailable,
    reason: "UPSTREAM_RATE_LIMITED",
    metadata: { upstream_status: "429", upstream_code: "TooManyRequests", upstream_message: "Too many requests." },
    retryable: true,
    retryAfterSeconds: 7,
  },
  {
    name: "HTTP 404 in plain text (wrong graph_url)",
    program: (f) => f.answerApiOnce({ status: 404, raw: "Not Found" }),
    code: Code.FailedPrecondition,
    reason: "PROVIDER_MISCONFIGURED",
    metadata: { upstream_status: "404", upstream_message: "HTTP 404" },
  },
];

const ctx = userWideSuite({
  type: "entra",
  table: entraTable,
  start: () => FakeEntra.start({ tenantId: TENANT, clientId: CLIENT_ID, clientSecret: SECRET }),
  settings: (fake) => ({ tenant_id: TENANT, client_id: CLIENT_ID, client_secret: "env:ENTRA_SECRET", graph_url: fake.url, login_url: fake.url }),
  signOutPath: PATH,
  secrets: () => [SECRET, process.env["ENTRA_WRONG_SECRET"]!],
  echoSecret: () => SECRET,
  rows: ROWS,
  bodyCases: [
    [
      'HTTP 200 {"value": false}',
      { body: { ...REVOKED, value: false } },
      { code: Code.Unknown, reason: "UPSTREAM_MALFORMED_ANSWER", metadata: { upstream_status: "200", upstream_code: "transport.malformed", upstream_message: 'HTTP 200 with a body that is not {"@odata.context", "value": true} or no body' } },
    ],
    [
      "HTTP 200 with an HTML page",
      { raw: "<html>ok</html>" },
      { code: Code.Unknown, reason: "UPSTREAM_MALFORMED_ANSWER", metadata: { upstream_status: "200", upstream_code: "transport.malformed", upstream_message: 'HTTP 200 with a body that is not {"@odata.context", "value": true} or no body' } },
    ],
    [
      "HTTP 200 with an error object",
      { body: graphError("Authorization_RequestDenied", "Insufficient privileges to complete the operation.") },
      { code: Code.Unknown, reason: "UPSTREAM_UNEXPECTED_ANSWER", metadata: { upstream_status: "200", upstream_code: "Authorization_RequestDenied", upstream_message: "Insufficient privileges to complete the operation." } },
    ],
    [
      "HTTP 503 serviceNotAvailable with Retry-After: 3 (the common 5xx row)",
      { status: 503, headers: { "retry-after": "3" }, body: graphError("serviceNotAvailable", "Service unavailable.") },
      { code: Code.Unavailable, reason: "UPSTREAM_UNAVAILABLE", metadata: { upstream_status: "503", upstream_code: "serviceNotAvailable", upstream_message: "Service unavailable." }, retryable: true },
    ],
  ],
  more: () => {
    describe("entra: request shapes", () => {
      it("posts client credentials to {login_url}/{tenant}/oauth2/v2.0/token, then POSTs revokeSignInSessions with the bearer token and no body", async () => {
        const fake = ctx.fake();
        fake.users.add("00000000-0000-4000-8000-0000000000a1");
        const res = await ctx.terminate("00000000-0000-4000-8000-0000000000a1", "entra-shape");
        expect(res.provider).toBe("entra-shape");
        const [token, revoke] = fake.requests;
        expect(token!.method).toBe("POST");
        expect(token!.path).toBe(`/${TENANT}/oauth2/v2.0/token`);
        expect(token!.headers["content-type"]).toBe("application/x-www-form-urlencoded");
        expect(token!.headers.authorization).toBeUndefined();
        expect(token!.form).toEqual({ grant_type: "client_credentials", client_id: CLIENT_ID, client_secret: SECRET, scope: GRAPH_SCOPE });
        expect(revoke!.method).toBe("POST");
        expect(revoke!.path).toBe(PATH("00000000-0000-4000-8000-0000000000a1"));
        expect(revoke!.headers.authorization).toBe(`Bearer ${fake.issued.at(-1)}`);
        expect(revoke!.headers.accept).toBe("application/json");
        expect(revoke!.text).toBe("");
        expect(fake.revoked.get("00000000-0000-4000-8000-0000000000a1")).toBe(1);
      });

      it("takes a userPrincipalName, percent-encoded, and 204 as success too", async () => {
        const fake = ctx.fake();
        fake.users.add("guest_example.com#EXT#@acme.onmicrosoft.com");
        await ctx.terminate("guest_example.com#EXT#@acme.onmicrosoft.com");
        expect(fake.apiRequests.at(-1)!.path).toBe("/v1.0/users/guest_example.com%23EXT%23%40acme.onmicrosoft.com/revokeSignInSessions");
        fake.answerApiOnce({ status: 204, raw: "" });
        expect((await ctx.terminate("alice@example.com")).alreadyTerminated).toBe(false);
      });

      it("a user unknown to Entra is NOT_FOUND USER_NOT_FOUND with Graph's code", async () => {
        const err = await ctx.failure(ctx.terminate("ghost@example.com"));
        expect(err.code).toBe(Code.NotFound);
        expect(err.findDetails(ErrorInfoSchema)[0]!.metadata["upstream_code"]).toBe("Request_ResourceNotFound");
      });
    });
  },
});
