import { randomUUID } from "node:crypto";
import { HttpFake, type FakeAnswer, type RecordedRequest } from "./http-fake.js";

/** A user session the fake knows, as UserSessionRepresentation has it. */
export interface KeycloakSession {
  id: string;
  userId: string;
  username: string;
  ipAddress: string;
  start: number;
  lastAccess: number;
  clients: Record<string, string>;
}

export interface KeycloakFakeOptions {
  realm: string;
  clientId: string;
  clientSecret: string;
}

/**
 * A Keycloak on 127.0.0.1, port 0: the realm's token endpoint (client credentials) and the Admin
 * REST API's session calls, answered as Keycloak does (RealmAdminResource, UsersResource,
 * UserResource). Tokens expire after `expiresIn` seconds; every request is recorded and answers
 * can be programmed per request.
 */
export class FakeKeycloak extends HttpFake {
  /** Live user sessions; ending one removes it. */
  readonly sessions: KeycloakSession[] = [];
  /** Users that exist (ids). */
  readonly users = new Set<string>();
  expiresIn: number | undefined = 300;
  readonly issued: string[] = [];
  private readonly valid = new Map<string, number>();
  private readonly apiQueue: FakeAnswer[] = [];
  private readonly tokenQueue: FakeAnswer[] = [];
  readonly tokenPath: string;
  private readonly admin: string;

  private constructor(private readonly options: KeycloakFakeOptions) {
    super();
    this.tokenPath = `/realms/${options.realm}/protocol/openid-connect/token`;
    this.admin = `/admin/realms/${options.realm}`;
  }

  static start(options: KeycloakFakeOptions): Promise<FakeKeycloak> {
    return new FakeKeycloak(options).listen();
  }

  get tokenRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.pathname === this.tokenPath);
  }

  get apiRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.pathname !== this.tokenPath);
  }

  /** The next answers of the admin API (after the bearer check), one per request. */
  answerApiOnce(...answers: FakeAnswer[]): void {
    this.apiQueue.push(...answers);
  }

  answerTokenOnce(...answers: FakeAnswer[]): void {
    this.tokenQueue.push(...answers);
  }

  /** Every token issued so far is refused from now on (401), as after a key rotation. */
  revokeTokens(): void {
    this.valid.clear();
  }

  /** A live session of `userId` (who then exists). */
  addSession(userId: string, id: string = randomUUID()): KeycloakSession {
    this.users.add(userId);
    const s = { id, userId, username: `user-${userId.slice(0, 8)}`, ipAddress: "10.0.0.7", start: Date.now() - 60_000, lastAccess: Date.now(), clients: { [randomUUID()]: "account-console" } };
    this.sessions.push(s);
    return s;
  }

  reset(): void {
    this.forget();
    this.sessions.length = 0;
    this.users.clear();
    this.apiQueue.length = 0;
    this.tokenQueue.length = 0;
    this.expiresIn = 300;
  }

  protected answerTo(r: RecordedRequest): FakeAnswer {
    if (r.pathname === this.tokenPath && r.method === "POST") return this.tokenQueue.shift() ?? this.token(r);
    if (/^\/realms\/[^/]+\/protocol\/openid-connect\/token$/.test(r.pathname)) return { status: 404, body: { error: "Realm does not exist" } };
    const auth = /^Bearer (.+)$/.exec(r.headers.authorization ?? "");
    const expiresAt = auth ? this.valid.get(auth[1]!) : undefined;
    if (expiresAt === undefined || Date.now() >= expiresAt) return { status: 401, body: { error: "HTTP 401 Unauthorized" } };
    const queued = this.apiQueue.shift();
    if (queued) return queued;
    if (!r.pathname.startsWith(`${this.admin}/`)) return { status: 404, body: { error: "Realm not found." } };
    // The path as the JAX-RS router sees it: segments split on "/", then decoded.
    const segs = r.path.split("?")[0]!.slice(this.admin.length + 1).split("/").map(decodeURIComponent);
    if (r.method === "DELETE" && segs.length === 2 && segs[0] === "sessions") {
      const i = this.sessions.findIndex((s) => s.id === segs[1]);
      if (i < 0) return { status: 404, body: { error: "Sesssion not found" } };
      this.sessions.splice(i, 1);
      return { status: 204, raw: "" };
    }
    if (segs.length === 3 && segs[0] === "users") {
      const userId = segs[1]!;
      if (!this.users.has(userId)) return { status: 404, body: { error: "User not found" } };
      if (r.method === "GET" && segs[2] === "sessions") return { body: this.sessions.filter((s) => s.userId === userId) };
      if (r.method === "POST" && segs[2] === "logout") {
        for (let i = this.sessions.length - 1; i >= 0; i--) if (this.sessions[i]!.userId === userId) this.sessions.splice(i, 1);
        return { status: 204, raw: "" };
      }
    }
    return { status: 404, body: { error: "HTTP 404 Not Found" } };
  }

  private token(r: RecordedRequest): FakeAnswer {
    const f = r.form ?? {};
    if (f["grant_type"] !== "client_credentials") return { status: 400, body: { error: "unsupported_grant_type", error_description: "Unsupported grant_type" } };
    if (f["client_id"] !== this.options.clientId || f["client_secret"] !== this.options.clientSecret) {
      return { status: 401, body: { error: "invalid_client", error_description: "Invalid client or Invalid client credentials" } };
    }
    const token = `kc-at-${randomUUID()}`;
    this.issued.push(token);
    this.valid.set(token, this.expiresIn === undefined ? Infinity : Date.now() + this.expiresIn * 1000);
    const expires = this.expiresIn === undefined ? {} : { expires_in: this.expiresIn };
    return { body: { access_token: token, ...expires, refresh_expires_in: 0, token_type: "Bearer", "not-before-policy": 0, scope: "profile email" } };
  }
}
