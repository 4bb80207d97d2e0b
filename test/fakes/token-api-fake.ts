import { randomUUID } from "node:crypto";
import { HttpFake, type FakeAnswer, type RecordedRequest } from "./http-fake.js";

/** A programmed answer, or one made from the request it answers (to echo what was sent). */
export type ProgrammedAnswer = FakeAnswer | ((r: RecordedRequest) => FakeAnswer);

/**
 * An upstream whose API takes OAuth 2.0 bearer tokens that its own token endpoint issues, on
 * 127.0.0.1, port 0: tokens expire after `expiresIn` seconds (or never), can all be revoked to
 * drive the refresh after a 401, and answers of either side can be programmed per request.
 */
export abstract class TokenApiFake extends HttpFake {
  /** `expires_in` of the tokens it issues; undefined: issued without one, valid until revoked. */
  expiresIn: number | undefined = 3600;
  /** Every access token issued, in order. */
  readonly issued: string[] = [];
  private readonly valid = new Map<string, number>();
  private readonly apiQueue: FakeAnswer[] = [];
  private readonly tokenQueue: ProgrammedAnswer[] = [];
  private tokenDelay = 0;

  /** Requests to the token endpoint. */
  get tokenRequests(): RecordedRequest[] {
    return this.requests.filter((r) => this.isTokenRequest(r));
  }

  /** Requests to anything but the token endpoint. */
  get apiRequests(): RecordedRequest[] {
    return this.requests.filter((r) => !this.isTokenRequest(r));
  }

  /** The next answers of the API (after the bearer check), one per request. */
  answerApiOnce(...answers: FakeAnswer[]): void {
    this.apiQueue.push(...answers);
  }

  /** The next answers of the token endpoint, one per request. */
  answerTokenOnce(...answers: ProgrammedAnswer[]): void {
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
  reset(): void {
    this.forget();
    this.apiQueue.length = 0;
    this.tokenQueue.length = 0;
    this.tokenDelay = 0;
    this.expiresIn = 3600;
  }

  protected answerTo(r: RecordedRequest): FakeAnswer {
    if (this.isTokenRequest(r)) {
      const queued = this.tokenQueue.shift();
      const answer = (typeof queued === "function" ? queued(r) : queued) ?? this.refuseTokenRequest(r) ?? this.issue();
      return { delayMs: this.tokenDelay, ...answer };
    }
    const bearer = /^Bearer (.+)$/.exec(r.headers.authorization ?? "")?.[1];
    const expiresAt = bearer === undefined ? undefined : this.valid.get(bearer);
    const valid = expiresAt !== undefined && Date.now() < expiresAt;
    if (!valid && !this.acceptsOtherCredential(r)) return this.unauthorized(bearer !== undefined);
    return this.apiQueue.shift() ?? this.api(r);
  }

  /** Whether the API takes the request with a credential other than an issued token (Okta's SSWS API token); none by default. */
  protected acceptsOtherCredential(_r: RecordedRequest): boolean {
    return false;
  }

  /** Whether the request is for the token endpoint. */
  protected abstract isTokenRequest(r: RecordedRequest): boolean;
  /** The token endpoint's refusal of a request it does not accept; undefined when it issues a token. */
  protected abstract refuseTokenRequest(r: RecordedRequest): FakeAnswer | undefined;
  /** The API's answer to a request without a valid token (`presented`: one was sent). */
  protected abstract unauthorized(presented: boolean): FakeAnswer;
  /** The API's answer to a request with a valid token. */
  protected abstract api(r: RecordedRequest): FakeAnswer;

  private issue(): FakeAnswer {
    const token = `at-${randomUUID()}`;
    this.issued.push(token);
    this.valid.set(token, this.expiresIn === undefined ? Infinity : Date.now() + this.expiresIn * 1000);
    return { body: { token_type: "Bearer", ...(this.expiresIn !== undefined && { expires_in: this.expiresIn }), access_token: token } };
  }
}
