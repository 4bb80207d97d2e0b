import type { FakeAnswer, RecordedRequest } from "./http-fake.js";
import { TokenApiFake } from "./token-api-fake.js";

export interface Auth0FakeOptions {
  clientId: string;
  clientSecret: string;
}

/** Auth0's error body (Management API v2). */
export function auth0Error(statusCode: number, error: string, message: string, errorCode?: string): Record<string, unknown> {
  return { statusCode, error, message, ...(errorCode !== undefined && { errorCode }) };
}

/** A session as "Get sessions for user" lists it. */
export interface Auth0Session {
  id: string;
  user_id: string;
  created_at: string;
  updated_at: string;
  authenticated_at: string;
  idle_expires_at: string;
  expires_at: string;
  last_interacted_at: string;
  device: Record<string, string>;
  clients: { client_id: string }[];
  authentication: { methods: { name: string; timestamp: string; type?: string }[] };
}

/**
 * An Auth0 tenant on 127.0.0.1, port 0: the Management API's session endpoints (deletions
 * accepted with 202 and carried out at once here), "Get sessions for user" with checkpoint
 * paging, and `POST /oauth/token` (client credentials for the audience {url}/api/v2/).
 */
export class FakeAuth0 extends TokenApiFake {
  /** Live sessions by id. */
  readonly sessions = new Map<string, Auth0Session>();
  readonly users = new Set<string>();

  private constructor(private readonly options: Auth0FakeOptions) {
    super();
  }

  static start(options: Auth0FakeOptions): Promise<FakeAuth0> {
    return new FakeAuth0(options).listen();
  }

  /** A live session of `userId`, in the documented shape; `expiresAt` may put it in the past. */
  addSession(userId: string, id: string, expiresAt = new Date(Date.now() + 86_400_000)): Auth0Session {
    const at = new Date().toISOString();
    const session: Auth0Session = {
      id,
      user_id: userId,
      created_at: at,
      updated_at: at,
      authenticated_at: at,
      idle_expires_at: expiresAt.toISOString(),
      expires_at: expiresAt.toISOString(),
      last_interacted_at: at,
      device: { initial_user_agent: "Mozilla/5.0", initial_ip: "10.1.2.3", initial_asn: "1234", last_user_agent: "Mozilla/5.0", last_ip: "10.1.2.3", last_asn: "1234" },
      clients: [{ client_id: "spa-client" }],
      authentication: { methods: [{ name: "pwd", timestamp: at }] },
    };
    this.users.add(userId);
    this.sessions.set(id, session);
    return session;
  }

  override reset(): void {
    super.reset();
    this.sessions.clear();
    this.users.clear();
  }

  protected isTokenRequest(r: RecordedRequest): boolean {
    return r.method === "POST" && r.pathname === "/oauth/token";
  }

  protected refuseTokenRequest(r: RecordedRequest): FakeAnswer | undefined {
    const f = r.form ?? {};
    if (f["grant_type"] !== "client_credentials") return { status: 400, body: { error: "unsupported_grant_type", error_description: "Unsupported grant type: " + (f["grant_type"] ?? "") } };
    if (f["client_id"] !== this.options.clientId || f["client_secret"] !== this.options.clientSecret) return { status: 401, body: { error: "access_denied", error_description: "Unauthorized" } };
    if (f["audience"] !== `${this.url}/api/v2/`) return { status: 403, body: { error: "access_denied", error_description: `Service not enabled within domain: ${f["audience"] ?? ""}` } };
    return undefined;
  }

  protected unauthorized(): FakeAnswer {
    return { status: 401, body: auth0Error(401, "Unauthorized", "Invalid token", "invalid_token") };
  }

  protected api(r: RecordedRequest): FakeAnswer {
    const one = /^\/api\/v2\/sessions\/([^/]+)$/.exec(r.pathname);
    if (r.method === "DELETE" && one) {
      const id = decodeURIComponent(one[1]!);
      if (!this.sessions.delete(id)) return { status: 404, body: auth0Error(404, "Not Found", "The session does not exist.") };
      return { status: 202, raw: "" };
    }
    const user = /^\/api\/v2\/users\/([^/]+)\/sessions$/.exec(r.pathname);
    if (user) {
      const userId = decodeURIComponent(user[1]!);
      if (!this.users.has(userId)) return { status: 404, body: auth0Error(404, "Not Found", "The user does not exist.", "inexistent_user") };
      const own = [...this.sessions.values()].filter((s) => s.user_id === userId);
      if (r.method === "DELETE") {
        for (const s of own) this.sessions.delete(s.id);
        return { status: 202, raw: "" };
      }
      if (r.method === "GET") {
        const take = Number(r.query.get("take") ?? 50);
        const from = Number(r.query.get("from") ?? 0);
        const page = own.slice(from, from + take);
        return { body: { sessions: page, ...(from + take < own.length && { next: String(from + take) }) } };
      }
    }
    return { status: 404, body: auth0Error(404, "Not Found", "Not Found") };
  }
}
