import type { FakeAnswer, RecordedRequest } from "./http-fake.js";
import { TokenApiFake } from "./token-api-fake.js";

/** One entry of "List all remote sessions", in the documented shape. */
export interface RemoteSession {
  id: string;
  user: string;
  origin_ip: string;
  credential: string;
  device: string;
  protocol: string;
  proxy: string;
  session_id: string;
  start: string;
  end: string | null;
  time: string | null;
  prevent_purge: string;
  request: null;
  ITSM: null;
}

export interface FakeOptions {
  clientId: string;
  clientSecret: string;
  /** The successful drop answer, e.g. seed 003's verbatim. */
  dropSuccess: string;
  dropPrefix?: string;
  sessionsPath?: string;
  tokenPath?: string;
}

/**
 * senhasegura's reply envelope (seed 003). The seed shows only success: for errors the fake sets
 * the flags and uses the HTTP status as error_code / cod_erro, an assumption.
 */
export function envelope(status: number, message: string, mensagem = message): Record<string, unknown> {
  const error = status >= 400;
  const code = error ? status : 0;
  return { code: status, response: { status, message, error, error_code: code, detail: "", mensagem, erro: error, cod_erro: code } };
}

/**
 * A senhasegura PAM on 127.0.0.1, port 0: the OAuth 2.0 token endpoint (client credentials), the
 * session drop endpoint and "List all remote sessions", with bearer tokens that expire after
 * `expiresIn` seconds. Every request is recorded; answers can be programmed per request.
 */
export class FakeSenhasegura extends TokenApiFake {
  /** Sessions it knows; a drop sets `end` on a live one. */
  readonly sessions: RemoteSession[] = [];
  private readonly dropPrefix: string;
  private readonly sessionsPath: string;
  private readonly tokenPath: string;

  private constructor(private readonly options: FakeOptions) {
    super();
    this.dropPrefix = options.dropPrefix ?? "/api/pam/session/drop";
    this.sessionsPath = options.sessionsPath ?? "/api/pam/session/remotesessions";
    this.tokenPath = options.tokenPath ?? "/iso/oauth2/token";
  }

  static start(options: FakeOptions): Promise<FakeSenhasegura> {
    return new FakeSenhasegura(options).listen();
  }

  /** Forgets requests, sessions and programmed answers; tokens stay valid. */
  override reset(): void {
    super.reset();
    this.sessions.length = 0;
  }

  protected isTokenRequest(r: RecordedRequest): boolean {
    return r.path === this.tokenPath;
  }

  protected refuseTokenRequest(r: RecordedRequest): FakeAnswer | undefined {
    const f = r.form ?? {};
    if (r.method === "POST" && f["grant_type"] === "client_credentials" && f["client_id"] === this.options.clientId && f["client_secret"] === this.options.clientSecret) return undefined;
    return { status: 401, body: { error: "invalid_client", error_description: "Client authentication failed.", message: "Client authentication failed." } };
  }

  protected unauthorized(presented: boolean): FakeAnswer {
    // Seed 003: a request without the authorization header matches no route of the gateway.
    if (!presented) return { status: 404, body: { message: "No route matched with those values." } };
    // league/oauth2-server's answer to a token it cannot verify (senhasegura's OAuth server, an assumption).
    return { status: 401, body: { error: "access_denied", error_description: "The resource owner or authorization server denied the request.", hint: "Access token could not be verified", message: "The resource owner or authorization server denied the request." } };
  }

  protected api(r: RecordedRequest): FakeAnswer {
    if (r.method === "DELETE" && r.path.startsWith(`${this.dropPrefix}/`)) {
      const rest = r.path.slice(this.dropPrefix.length + 1);
      if (!/[/?#]/.test(rest)) return this.drop(decodeURIComponent(rest));
    }
    if (r.method === "GET" && r.path === this.sessionsPath) {
      return { body: { ...envelope(200, ""), tenant: "senhasegura", remote_sessions: this.sessions } };
    }
    return { status: 404, body: envelope(404, "Resource sub not found") };
  }

  private drop(sessionId: string): FakeAnswer {
    const session = this.sessions.find((s) => s.session_id === sessionId && s.end === null);
    if (!session) return { status: 500, body: envelope(500, "An error occurred while droping session.") };
    session.end = new Date().toISOString().slice(0, 19).replace("T", " ");
    return { raw: this.options.dropSuccess };
  }
}
