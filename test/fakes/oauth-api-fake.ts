import { randomUUID } from "node:crypto";
import { HttpFake, type FakeAnswer, type RecordedRequest } from "./http-fake.js";

/**
 * An upstream API behind an OAuth 2.0 token endpoint: it issues bearer tokens that expire after
 * `expiresIn` seconds, counts token requests, and can refuse every token issued so far (a 401 that
 * drives one refresh). Answers of the API and of the token endpoint can be programmed per request.
 */
export abstract class OAuthApiFake extends HttpFake {
  /** `expires_in` of the tokens it issues; undefined: issued without one, valid until revoked. */
  expiresIn: number | undefined = 3600;
  /** Every access token issued, in order. */
  readonly issued: string[] = [];
  private readonly valid = new Map<string, number>();
  private readonly apiQueue: FakeAnswer[] = [];
  private readonly tokenQueue: FakeAnswer[] = [];
  private tokenDelay = 0;

  protected constructor(protected readonly tokenPath: string) {
    super();
  }

  /** Requests to the token endpoint. */
  get tokenRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.pathname === this.tokenPath);
  }

  /** Requests to anything but the token endpoint. */
  get apiRequests(): RecordedRequest[] {
    return this.requests.filter((r) => r.pathname !== this.tokenPath);
  }

  /** The next answers of the API (after the authorization check), one per request. */
  answerApiOnce(...answers: FakeAnswer[]): void {
    this.apiQueue.push(...answers);
  }

  /** The next answers of the token endpoint, one per request. */
  answerTokenOnce(...answers: FakeAnswer[]): void {
    this.tokenQueue.push(...answers);
  }

  /** Delays every token answer from now on. */
  delayTokens(ms: number): void {
    this.tokenDelay = ms;
  }

  /** Every token issued so far is refused from now on (401). */
  revokeTokens(): void {
    this.valid.clear();
  }

  /** Forgets requests and programmed answers; tokens stay valid. */
  protected resetCommon(): void {
    this.forget();
    this.apiQueue.length = 0;
    this.tokenQueue.length = 0;
    this.tokenDelay = 0;
    this.expiresIn = 3600;
  }

  protected answerTo(r: RecordedRequest): FakeAnswer {
    if (r.pathname === this.tokenPath && r.method === "POST") {
      const answer = this.tokenQueue.shift() ?? this.token(r);
      return { ...answer, delayMs: answer.delayMs ?? this.tokenDelay };
    }
    const refused = this.authorize(r);
    if (refused) return refused;
    return this.apiQueue.shift() ?? this.api(r);
  }

  /** A new token, in a token answer of RFC 6749 §5.1. */
  protected issue(prefix: string): FakeAnswer {
    const token = `${prefix}-${randomUUID()}`;
    this.issued.push(token);
    this.valid.set(token, this.expiresIn === undefined ? Infinity : Date.now() + this.expiresIn * 1000);
    return { body: { access_token: token, ...(this.expiresIn !== undefined && { expires_in: this.expiresIn }), token_type: "Bearer" } };
  }

  /** Whether the request carries a bearer token this fake issued and that has not expired. */
  protected bearerValid(r: RecordedRequest): boolean {
    const auth = /^Bearer (.+)$/.exec(r.headers.authorization ?? "");
    const expiresAt = auth ? this.valid.get(auth[1]!) : undefined;
    return expiresAt !== undefined && Date.now() < expiresAt;
  }

  /** The token endpoint's answer to a request with the client's credentials. */
  protected abstract token(r: RecordedRequest): FakeAnswer;
  /** Undefined when the request may reach the API; otherwise the refusal. */
  protected abstract authorize(r: RecordedRequest): FakeAnswer | undefined;
  protected abstract api(r: RecordedRequest): FakeAnswer;
}
