import { generateKeyPairSync, randomUUID, verify } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { DeleteSessionRequestSchema, DeleteSessionResponseSchema, ListSessionsRequestSchema, ListSessionsResponseSchema } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { envelope, unenvelope } from "../load/frames.js";
import { FAKE_CREDENTIALS as C, listedSessionOf, ZITADEL_FAKE_OWNER, type FakeStats, type FromFakes, type ToFakes, type UpstreamType } from "./protocol.js";

/**
 * Lean fakes of the upstreams, in one child process of their own: they answer at once or
 * after the injected latency, check the service's credentials, remember what was ended (so a
 * second end of the same thing is counted as a duplicate and refused as the upstream would),
 * count the connections they accepted, and time each end request themselves. Unlike the test
 * fakes (test/fakes/), they keep no request log: a run sends tens of thousands of requests.
 * Keep-alive is held for 60 s, so that the connections counted are the client's pooling alone.
 */

let latencyMs = 0;
const MAX_REFUSALS_KEPT = 5;
const KEEP_ALIVE_MS = 60_000;

/** The common bookkeeping of one fake. */
class Ledger {
  connections = 0;
  readonly requests: { [route: string]: number } = {};
  ends = 0;
  duplicates = 0;
  refused = 0;
  readonly refusals: string[] = [];
  readonly ended = new Set<string>();
  private keys: string[] = [];
  private ns: number[] = [];

  request(route: string): void {
    this.requests[route] = (this.requests[route] ?? 0) + 1;
  }

  refuse(why: string): void {
    this.refused++;
    if (this.refusals.length < MAX_REFUSALS_KEPT) this.refusals.push(why);
  }

  /** An end request for `key`; false when it was ended before (counted as a duplicate). */
  end(key: string): boolean {
    this.ends++;
    if (this.ended.has(key)) {
      this.duplicates++;
      return false;
    }
    this.ended.add(key);
    return true;
  }

  time(key: string, ns: number): void {
    this.keys.push(key);
    this.ns.push(ns);
  }

  take(): FakeStats {
    const stats: FakeStats = {
      connections: this.connections,
      requests: { ...this.requests },
      ends: this.ends,
      duplicates: this.duplicates,
      refused: this.refused,
      refusals: [...this.refusals],
      times: { keys: this.keys, ns: this.ns },
    };
    this.keys = [];
    this.ns = [];
    return stats;
  }
}

interface Request {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  text: string;
}

interface Answer {
  status: number;
  text: string;
  /** Set for end requests: what was ended, for the timing record. */
  endKey?: string;
}

const json = (status: number, body: unknown, endKey?: string): Answer => ({ status, text: JSON.stringify(body), ...(endKey !== undefined && { endKey }) });

/** An HTTP/1.1 fake: `route` answers each request; the answer is sent after the injected latency. */
async function http1Fake(record: Ledger, route: (r: Request) => Answer): Promise<number> {
  const server = http.createServer((req, res) => {
    const t0 = process.hrtime.bigint();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let answer: Answer;
      try {
        answer = route({ method: req.method!, url: new URL(req.url!, "http://fake"), headers: req.headers, text: Buffer.concat(chunks).toString("utf8") });
      } catch (err) {
        record.refuse(`the fake failed: ${(err as Error).message}`);
        answer = json(500, { error: "fake failed" });
      }
      const send = () => {
        res.writeHead(answer.status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(answer.text)) });
        res.end(answer.text);
      };
      if (answer.endKey !== undefined) {
        const key = answer.endKey;
        res.once("finish", () => record.time(key, Number(process.hrtime.bigint() - t0)));
      }
      if (latencyMs > 0) setTimeout(send, latencyMs);
      else send();
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 5_000;
  server.on("connection", () => record.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

const records: { [T in UpstreamType]: Ledger } = {
  zitadel: new Ledger(),
  rocketchat: new Ledger(),
  senhasegura: new Ledger(),
  luckymonaco: new Ledger(),
  keycloak: new Ledger(),
  kratos: new Ledger(),
  entra: new Ledger(),
  google: new Ledger(),
  okta: new Ledger(),
  auth0: new Ledger(),
};

/** Rocket.Chat: POST /api/v1/sessions/logout and GET /api/v1/sessions/list.all (one session per user). */
function rocketchat(r: Request): Answer {
  const rec = records.rocketchat;
  const route = `${r.method} ${r.url.pathname}`;
  rec.request(route);
  if (r.headers["x-user-id"] !== C.rocketchatUserId || r.headers["x-auth-token"] !== C.rocketchatAuthToken) {
    rec.refuse(`${route}: wrong X-User-Id / X-Auth-Token`);
    return json(401, { status: "error", message: "You must be logged in to do this." });
  }
  if (route === "POST /api/v1/sessions/logout") {
    const sessionId = (JSON.parse(r.text) as { sessionId?: unknown }).sessionId;
    if (typeof sessionId !== "string") {
      rec.refuse("logout without a sessionId");
      return json(400, { success: false, error: "must have required property 'sessionId' [invalid-params]", errorType: "invalid-params" });
    }
    if (!rec.end(sessionId)) return json(404, { success: false, error: "Session not found" }, sessionId);
    return json(200, { sessionId, success: true }, sessionId);
  }
  if (route === "GET /api/v1/sessions/list.all") {
    const user = r.url.searchParams.get("filter") ?? "";
    const id = listedSessionOf("rocketchat", user);
    const sessions = user && !rec.ended.has(id) ? [{ sessionId: id, userId: user, device: { name: "bench" }, _updatedAt: "2025-01-01T00:00:00.000Z" }] : [];
    return json(200, { sessions, count: sessions.length, offset: Number(r.url.searchParams.get("offset") ?? 0), total: sessions.length, success: true });
  }
  rec.refuse(`unknown route ${route}`);
  return json(404, { success: false, error: "Not found" });
}

const ssTokens = new Set<string>();
/** senhasegura's remote sessions, as its "List all remote sessions" gives them: every session, not one user's. */
const ssRemote: { id: string; user: string; session_id: string; end: string | null }[] = [];
const SS_DROPPED = JSON.stringify({ code: 200, response: { status: 200, message: "Sessão interrompida com sucesso", error: false, error_code: 0, detail: "", mensagem: "Sessão interrompida com sucesso", erro: false, cod_erro: 0 } });
const ssEnvelope = (status: number, message: string) => ({ code: status, response: { status, message, error: status >= 400, error_code: status >= 400 ? status : 0, detail: "", mensagem: message, erro: status >= 400, cod_erro: status >= 400 ? status : 0 } });

/** senhasegura: the OAuth token endpoint, DELETE /api/pam/session/drop/{id}, GET /api/pam/session/remotesessions. */
function senhasegura(r: Request): Answer {
  const rec = records.senhasegura;
  const path = r.url.pathname;
  if (r.method === "POST" && path === "/iso/oauth2/token") {
    rec.request("POST /iso/oauth2/token");
    const f = new URLSearchParams(r.text);
    if (f.get("grant_type") !== "client_credentials" || f.get("client_id") !== C.senhaseguraClientId || f.get("client_secret") !== C.senhaseguraClientSecret) {
      rec.refuse("token request with wrong client credentials");
      return json(401, { error: "invalid_client", error_description: "Client authentication failed.", message: "Client authentication failed." });
    }
    const token = `ss-at-${randomUUID()}`;
    ssTokens.add(token);
    return json(200, { access_token: token, expires_in: 3600, token_type: "Bearer" });
  }
  const route = r.method === "DELETE" && path.startsWith("/api/pam/session/drop/") ? "DELETE /api/pam/session/drop/{id}" : `${r.method} ${path}`;
  rec.request(route);
  const auth = /^Bearer (.+)$/.exec(r.headers.authorization ?? "");
  if (!auth || !ssTokens.has(auth[1]!)) {
    rec.refuse(`${route}: no valid bearer token`);
    return json(401, { error: "access_denied", error_description: "The resource owner or authorization server denied the request.", message: "The resource owner or authorization server denied the request." });
  }
  if (route === "DELETE /api/pam/session/drop/{id}") {
    const id = decodeURIComponent(path.slice("/api/pam/session/drop/".length));
    if (!rec.end(id)) return json(500, ssEnvelope(500, "An error occurred while droping session."), id);
    const listed = ssRemote.find((s) => s.session_id === id && s.end === null);
    if (listed) listed.end = new Date().toISOString().slice(0, 19).replace("T", " ");
    return { status: 200, text: SS_DROPPED, endKey: id };
  }
  if (route === "GET /api/pam/session/remotesessions") {
    const remote = ssRemote.map((s) => ({ ...s, origin_ip: "10.1.2.3", credential: "svc-db", device: "10.9.8.7:22", protocol: "ssh", proxy: "Web Proxy", start: "2025-01-01 09:00:00", time: null, prevent_purge: "No", request: null, ITSM: null }));
    return json(200, { ...ssEnvelope(200, ""), tenant: "senhasegura", remote_sessions: remote });
  }
  rec.refuse(`unknown route ${route}`);
  return json(404, ssEnvelope(404, "Resource sub not found"));
}

/** LuckyMonaco: POST /V4/CloseSession ends a player's game sessions (as the real API, answering success again for a player already closed). */
function luckymonaco(r: Request): Answer {
  const rec = records.luckymonaco;
  const route = `${r.method} ${r.url.pathname}`;
  rec.request(route);
  if (route !== "POST /V4/CloseSession") {
    rec.refuse(`unknown route ${route}`);
    return json(404, { error: 7, description: "Not found" });
  }
  const body = JSON.parse(r.text) as { secureLogin?: unknown; token?: unknown; userId?: unknown };
  if (body.secureLogin !== C.luckymonacoSecureLogin || body.token !== C.luckymonacoToken) {
    rec.refuse("CloseSession with wrong secureLogin / token");
    return json(200, { error: 4, description: "Authentication failed" });
  }
  if (typeof body.userId !== "string" || body.userId === "") {
    rec.refuse("CloseSession without userId");
    return json(200, { error: 7, description: "Bad parameters" });
  }
  rec.end(body.userId);
  return json(200, { error: 0, description: "Success" }, body.userId);
}

const kcTokens = new Set<string>();
const KC_ADMIN = `/admin/realms/${C.keycloakRealm}`;
const KC_TOKEN = `/realms/${C.keycloakRealm}/protocol/openid-connect/token`;

/** Keycloak: the realm's token endpoint, DELETE .../sessions/{id}, GET .../users/{id}/sessions, POST .../users/{id}/logout. */
function keycloak(r: Request): Answer {
  const rec = records.keycloak;
  const path = r.url.pathname;
  if (r.method === "POST" && path === KC_TOKEN) {
    rec.request(`POST ${KC_TOKEN}`);
    const f = new URLSearchParams(r.text);
    if (f.get("grant_type") !== "client_credentials" || f.get("client_id") !== C.keycloakClientId || f.get("client_secret") !== C.keycloakClientSecret) {
      rec.refuse("token request with wrong client credentials");
      return json(401, { error: "invalid_client", error_description: "Invalid client or Invalid client credentials" });
    }
    const token = `kc-at-${randomUUID()}`;
    kcTokens.add(token);
    return json(200, { access_token: token, expires_in: 300, token_type: "Bearer" });
  }
  const segs = path.startsWith(`${KC_ADMIN}/`) ? path.slice(KC_ADMIN.length + 1).split("/").map(decodeURIComponent) : [];
  const route = segs[0] === "sessions" ? `${r.method} ${KC_ADMIN}/sessions/{id}` : segs[0] === "users" ? `${r.method} ${KC_ADMIN}/users/{id}/${segs[2] ?? ""}` : `${r.method} ${path}`;
  rec.request(route);
  const auth = /^Bearer (.+)$/.exec(r.headers.authorization ?? "");
  if (!auth || !kcTokens.has(auth[1]!)) {
    rec.refuse(`${route}: no valid bearer token`);
    return json(401, { error: "HTTP 401 Unauthorized" });
  }
  if (r.method === "DELETE" && segs.length === 2 && segs[0] === "sessions") {
    const id = segs[1]!;
    return rec.end(id) ? { status: 204, text: "", endKey: id } : json(404, { error: "Sesssion not found" }, id);
  }
  if (segs.length === 3 && segs[0] === "users") {
    const user = segs[1]!;
    const id = listedSessionOf("keycloak", user);
    if (r.method === "GET" && segs[2] === "sessions") return json(200, rec.ended.has(id) ? [] : [{ id, userId: user, username: user, ipAddress: "10.0.0.7", start: 0, lastAccess: 0, clients: {} }]);
    if (r.method === "POST" && segs[2] === "logout") {
      rec.end(id);
      return { status: 204, text: "", endKey: id };
    }
  }
  rec.refuse(`unknown route ${route}`);
  return json(404, { error: "HTTP 404 Not Found" });
}

/** Ory Kratos' admin API: DELETE /admin/sessions/{id}, GET and DELETE /admin/identities/{id}/sessions. */
function kratos(r: Request): Answer {
  const rec = records.kratos;
  const segs = r.url.pathname.split("/").slice(1).map(decodeURIComponent);
  const notFound = { error: { code: 404, status: "Not Found", message: "Unable to locate the resource" } };
  if (r.method === "DELETE" && segs.length === 3 && segs[0] === "admin" && segs[1] === "sessions") {
    rec.request("DELETE /admin/sessions/{id}");
    const id = segs[2]!;
    return rec.end(id) ? { status: 204, text: "", endKey: id } : json(404, notFound, id);
  }
  if (segs.length === 4 && segs[0] === "admin" && segs[1] === "identities" && segs[3] === "sessions") {
    rec.request(`${r.method} /admin/identities/{id}/sessions`);
    const identity = segs[2]!;
    const id = listedSessionOf("kratos", identity);
    if (r.method === "GET") return json(200, rec.ended.has(id) ? [] : [{ id, active: true, identity: { id: identity } }]);
    if (r.method === "DELETE") return rec.end(id) ? { status: 204, text: "", endKey: id } : json(404, notFound, id);
  }
  rec.refuse(`unknown route ${r.method} ${r.url.pathname}`);
  return json(404, { error: { code: 404, status: "Not Found", message: "The requested resource could not be found" } });
}

const bearerTokens = { entra: new Set<string>(), google: new Set<string>(), auth0: new Set<string>() };
/** A token the fake of `type` issued; it knows it from then on. */
function issue(type: keyof typeof bearerTokens): Answer {
  const token = `${type}-at-${randomUUID()}`;
  bearerTokens[type].add(token);
  return json(200, { token_type: "Bearer", expires_in: 3599, access_token: token });
}
function hasBearer(type: keyof typeof bearerTokens, r: Request): boolean {
  const auth = /^Bearer (.+)$/.exec(r.headers.authorization ?? "");
  return auth !== null && bearerTokens[type].has(auth[1]!);
}

/** Entra ID: the token endpoint (client credentials) and Graph's revokeSignInSessions, which succeeds again for a user already revoked. */
function entra(r: Request): Answer {
  const rec = records.entra;
  const path = r.url.pathname;
  if (r.method === "POST" && path === `/${C.entraTenantId}/oauth2/v2.0/token`) {
    rec.request("POST /{tenant}/oauth2/v2.0/token");
    const f = new URLSearchParams(r.text);
    if (f.get("grant_type") !== "client_credentials" || f.get("client_id") !== C.entraClientId || f.get("client_secret") !== C.entraClientSecret || f.get("scope") !== "https://graph.microsoft.com/.default") {
      rec.refuse("token request with wrong client credentials or scope");
      return json(401, { error: "invalid_client", error_description: "AADSTS7000215: Invalid client secret provided.", error_codes: [7000215] });
    }
    return issue("entra");
  }
  const m = /^\/v1\.0\/users\/([^/]+)\/revokeSignInSessions$/.exec(path);
  const route = m && r.method === "POST" ? "POST /v1.0/users/{id}/revokeSignInSessions" : `${r.method} ${path}`;
  rec.request(route);
  if (!hasBearer("entra", r)) {
    rec.refuse(`${route}: no valid bearer token`);
    return json(401, { error: { code: "InvalidAuthenticationToken", message: "Access token validation failure." } });
  }
  if (!m || r.method !== "POST") {
    rec.refuse(`unknown route ${route}`);
    return json(400, { error: { code: "BadRequest", message: "Resource not found for the segment." } });
  }
  const user = decodeURIComponent(m[1]!);
  rec.end(user);
  return json(200, { "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", value: true }, user);
}

/** The service account the Google fake trusts: its key pair, made once per start. */
const googleAccount = (() => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { email: "bench@bench-project.iam.gserviceaccount.com", keyId: "bench-key-1", privateKey, publicKey };
})();
let googlePort = 0;

/** The claims of a JWT bearer assertion signed by the trusted account (RS256), or undefined. */
function googleAssertion(assertion: string): Record<string, unknown> | undefined {
  const [h, c, sig] = assertion.split(".");
  if (h === undefined || c === undefined || sig === undefined) return undefined;
  if (!verify("RSA-SHA256", Buffer.from(`${h}.${c}`), googleAccount.publicKey, Buffer.from(sig, "base64url"))) return undefined;
  return JSON.parse(Buffer.from(c, "base64url").toString()) as Record<string, unknown>;
}

/** Google Workspace: the token endpoint (JWT bearer) and the Admin SDK's users.signOut (204, again for a user already signed out). */
function google(r: Request): Answer {
  const rec = records.google;
  const path = r.url.pathname;
  if (r.method === "POST" && path === "/token") {
    rec.request("POST /token");
    const f = new URLSearchParams(r.text);
    const claims = googleAssertion(f.get("assertion") ?? "");
    const ok = f.get("grant_type") === "urn:ietf:params:oauth:grant-type:jwt-bearer" && claims !== undefined && claims["iss"] === googleAccount.email && claims["sub"] === C.googleSubject && claims["aud"] === `http://127.0.0.1:${googlePort}/token` && claims["scope"] === "https://www.googleapis.com/auth/admin.directory.user.security";
    if (!ok) {
      rec.refuse("token request with a wrong assertion");
      return json(400, { error: "invalid_grant", error_description: "Invalid JWT Signature." });
    }
    return issue("google");
  }
  const m = /^\/admin\/directory\/v1\/users\/([^/]+)\/signOut$/.exec(path);
  const route = m && r.method === "POST" ? "POST /admin/directory/v1/users/{userKey}/signOut" : `${r.method} ${path}`;
  rec.request(route);
  if (!hasBearer("google", r)) {
    rec.refuse(`${route}: no valid bearer token`);
    return json(401, { error: { code: 401, message: "Invalid Credentials", errors: [{ reason: "authError", domain: "global", message: "Invalid Credentials" }], status: "UNAUTHENTICATED" } });
  }
  if (!m || r.method !== "POST") {
    rec.refuse(`unknown route ${route}`);
    return json(404, { error: { code: 404, message: "Not Found", errors: [{ reason: "notFound", domain: "global", message: "Not Found" }], status: "NOT_FOUND" } });
  }
  const user = decodeURIComponent(m[1]!);
  rec.end(user);
  return { status: 204, text: "", endKey: user };
}

/** The JSON key of the trusted service account, naming the fake's token endpoint as its token_uri. */
function googleKey(): string {
  return JSON.stringify({
    type: "service_account",
    private_key_id: googleAccount.keyId,
    private_key: googleAccount.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    client_email: googleAccount.email,
    token_uri: `http://127.0.0.1:${googlePort}/token`,
  });
}

/** Okta: DELETE /api/v1/sessions/{id} and DELETE /api/v1/users/{id}/sessions (204), with the SSWS API token. */
function okta(r: Request): Answer {
  const rec = records.okta;
  const path = r.url.pathname;
  const one = /^\/api\/v1\/sessions\/([^/]+)$/.exec(path);
  const all = /^\/api\/v1\/users\/([^/]+)\/sessions$/.exec(path);
  const route = r.method === "DELETE" && one ? "DELETE /api/v1/sessions/{id}" : r.method === "DELETE" && all ? "DELETE /api/v1/users/{id}/sessions" : `${r.method} ${path}`;
  rec.request(route);
  if (r.headers.authorization !== `SSWS ${C.oktaApiToken}`) {
    rec.refuse(`${route}: wrong SSWS token`);
    return json(401, { errorCode: "E0000011", errorSummary: "Invalid token provided", errorCauses: [] });
  }
  const match = one ?? all;
  if (r.method === "DELETE" && match) {
    const key = (all ? "user:" : "") + decodeURIComponent(match[1]!);
    if (!rec.end(key)) return json(404, { errorCode: "E0000007", errorSummary: `Not found: Resource not found: ${key}`, errorCauses: [] }, key);
    return { status: 204, text: "", endKey: key };
  }
  rec.refuse(`unknown route ${route}`);
  return json(404, { errorCode: "E0000007", errorSummary: "Not found", errorCauses: [] });
}

/** Auth0: POST /oauth/token, DELETE /api/v2/sessions/{id} (202), and a user's sessions (one listed per user). */
function auth0(r: Request): Answer {
  const rec = records.auth0;
  const path = r.url.pathname;
  if (r.method === "POST" && path === "/oauth/token") {
    rec.request("POST /oauth/token");
    const f = new URLSearchParams(r.text);
    if (f.get("grant_type") !== "client_credentials" || f.get("client_id") !== C.auth0ClientId || f.get("client_secret") !== C.auth0ClientSecret) {
      rec.refuse("token request with wrong client credentials");
      return json(401, { error: "access_denied", error_description: "Unauthorized" });
    }
    return issue("auth0");
  }
  const one = /^\/api\/v2\/sessions\/([^/]+)$/.exec(path);
  const user = /^\/api\/v2\/users\/([^/]+)\/sessions$/.exec(path);
  const route = one ? `${r.method} /api/v2/sessions/{id}` : user ? `${r.method} /api/v2/users/{id}/sessions` : `${r.method} ${path}`;
  rec.request(route);
  if (!hasBearer("auth0", r)) {
    rec.refuse(`${route}: no valid bearer token`);
    return json(401, { statusCode: 401, error: "Unauthorized", message: "Invalid token", errorCode: "invalid_token" });
  }
  if (r.method === "DELETE" && (one ?? user)) {
    const key = (user ? "user:" : "") + decodeURIComponent((one ?? user)![1]!);
    if (!rec.end(key)) return json(404, { statusCode: 404, error: "Not Found", message: "The session does not exist." }, key);
    return { status: 202, text: "", endKey: key };
  }
  if (r.method === "GET" && user) {
    const id = decodeURIComponent(user[1]!);
    const sessions = rec.ended.has(`user:${id}`) ? [] : [{ id: listedSessionOf("auth0", id), user_id: id }];
    return json(200, { sessions });
  }
  rec.refuse(`unknown route ${route}`);
  return json(404, { statusCode: 404, error: "Not Found", message: "Not Found" });
}

/** Zitadel: zitadel.session.v2.SessionService DeleteSession and ListSessions over gRPC (HTTP/2 cleartext), on node:http2 directly. */
async function zitadel(): Promise<number> {
  const rec = records.zitadel;
  const deleted = Buffer.from(
    envelope(toBinary(DeleteSessionResponseSchema, create(DeleteSessionResponseSchema, { details: { sequence: 1n, changeDate: timestampFromDate(new Date()), resourceOwner: ZITADEL_FAKE_OWNER } }))),
  );
  const server = http2.createServer();
  server.on("session", () => rec.connections++);
  server.on("stream", (stream, headers) => {
    const t0 = process.hrtime.bigint();
    const path = String(headers[":path"]);
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => {});
    stream.on("end", () => {
      const method = path.split("/").pop()!;
      rec.request(method);
      const fail = (code: number, message: string) => () => {
        if (!stream.destroyed) stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": String(code), "grpc-message": encodeURIComponent(message) }, { endStream: true });
      };
      const reply = (body: Uint8Array) => () => {
        if (stream.destroyed) return;
        stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
        stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
        stream.end(body);
      };
      let answer: () => void;
      if (headers.authorization !== `Bearer ${C.zitadelToken}`) {
        rec.refuse(`${method}: wrong bearer token`);
        answer = fail(16, "Errors.Token.Invalid (AUTH-7fs1e)");
      } else {
        const message = unenvelope(Buffer.concat(chunks));
        if (!message) {
          rec.refuse(`${method}: the body is not one gRPC message`);
          answer = fail(3, "malformed");
        } else if (path === "/zitadel.session.v2.SessionService/DeleteSession") {
          const sessionId = fromBinary(DeleteSessionRequestSchema, message).sessionId;
          answer = rec.end(sessionId) ? reply(deleted) : fail(5, "Errors.Session.NotFound (QUERY-1n8sa)");
          stream.once("close", () => rec.time(sessionId, Number(process.hrtime.bigint() - t0)));
        } else if (path === "/zitadel.session.v2.SessionService/ListSessions") {
          const req = fromBinary(ListSessionsRequestSchema, message);
          const q = req.queries.find((x) => x.query.case === "userIdQuery")?.query;
          const user = q?.case === "userIdQuery" ? q.value.id : "";
          const id = listedSessionOf("zitadel", user);
          const sessions = user && !rec.ended.has(id) ? [{ id, factors: { user: { id: user } } }] : [];
          answer = reply(envelope(toBinary(ListSessionsResponseSchema, create(ListSessionsResponseSchema, { details: { totalResult: BigInt(sessions.length) }, sessions }))));
        } else {
          rec.refuse(`unknown method ${path}`);
          answer = fail(12, `unknown method ${path}`);
        }
      }
      if (latencyMs > 0) setTimeout(answer, latencyMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function send(m: FromFakes): void {
  process.send!(m);
}

async function main(): Promise<void> {
  const ports = {
    zitadel: await zitadel(),
    rocketchat: await http1Fake(records.rocketchat, rocketchat),
    senhasegura: await http1Fake(records.senhasegura, senhasegura),
    luckymonaco: await http1Fake(records.luckymonaco, luckymonaco),
    keycloak: await http1Fake(records.keycloak, keycloak),
    kratos: await http1Fake(records.kratos, kratos),
    entra: await http1Fake(records.entra, entra),
    google: await http1Fake(records.google, google),
    okta: await http1Fake(records.okta, okta),
    auth0: await http1Fake(records.auth0, auth0),
  };
  googlePort = ports.google;
  process.on("message", (m: ToFakes) => {
    if (m.cmd === "latency") {
      latencyMs = m.ms;
      send({ type: "ok" });
    } else if (m.cmd === "seed") {
      for (const user of m.users) ssRemote.push({ id: String(ssRemote.length + 1), user, session_id: listedSessionOf("senhasegura", user), end: null });
      send({ type: "ok" });
    } else if (m.cmd === "take") {
      send({ type: "taken", stats: { zitadel: records.zitadel.take(), rocketchat: records.rocketchat.take(), senhasegura: records.senhasegura.take(), luckymonaco: records.luckymonaco.take(), keycloak: records.keycloak.take(), kratos: records.kratos.take(), entra: records.entra.take(), google: records.google.take(), okta: records.okta.take(), auth0: records.auth0.take() } });
    } else if (m.cmd === "exit") process.exit(0);
  });
  process.on("disconnect", () => process.exit(0));
  send({ type: "ready", ports, googleKey: googleKey() });
}

main().catch((err: unknown) => {
  send({ type: "error", message: (err as Error).stack ?? String(err) });
  process.exit(1);
});
