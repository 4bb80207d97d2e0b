import type { UpstreamAnswer } from "../status/answer.js";
import { ProviderFailure } from "../status/provider-failure.js";
import type { MappingTable } from "../status/table.js";
import { BearerHttp } from "./bearer-http.js";
import { OAuthTokenCache, type IssuedToken } from "./oauth-token-cache.js";
import { pathIdProblem } from "./path-id.js";
import {
  ALL_SESSIONS,
  allowOptions,
  endedNow,
  type ListUserSessionsCall,
  type Provider,
  type SessionListing,
  type TerminateCall,
  type TerminateResult,
} from "./provider.js";
import { oauthTokenOf } from "./token-endpoint.js";
import { withoutSecrets } from "./upstream-answer.js";
import { UpstreamHttp, type UpstreamResponse } from "./upstream-http.js";

/** Where a user-wide-only provider sends its two kinds of request. */
export interface UserWideEndpoints {
  /** The API's base URL. */
  apiUrl: string;
  /** The OAuth 2.0 token endpoint's base URL; `tokenPath` is below it. */
  tokenUrl: string;
  maxConnections: number;
}

/**
 * An upstream that ends all of a user's sessions in one call and cannot end or list one session
 * (Microsoft Entra ID, Google Workspace). Every `terminate` is that call, for `user_id`, whatever
 * the session id, and says so (`allOfUser`); without `user_id` nothing is sent. The API takes an
 * OAuth 2.0 bearer token, cached until shortly before it expires and fetched again once after a 401.
 */
export abstract class UserWideProvider implements Provider {
  abstract readonly type: string;
  readonly verifiesTokens = false;
  readonly endsAllOfUser = true;
  readonly endsOnlyAllOfUser = true;
  readonly cannotList = true;
  readonly checkOptions = allowOptions({});
  private readonly api: UpstreamHttp;
  private readonly login: UpstreamHttp;
  private readonly bearer: BearerHttp;

  constructor(
    readonly name: string,
    readonly table: MappingTable,
    endpoints: UserWideEndpoints,
    /** The system's name, for messages. */
    private readonly vendor: string,
  ) {
    this.api = new UpstreamHttp(name, table, endpoints.apiUrl, endpoints.maxConnections);
    this.login = new UpstreamHttp(name, table, endpoints.tokenUrl, endpoints.maxConnections);
    this.bearer = new BearerHttp(this.api, new OAuthTokenCache((signal) => this.fetchToken(signal)));
  }

  async terminate(call: TerminateCall): Promise<TerminateResult> {
    if (!call.userId) throw this.failure({ code: "user_id_missing", message: `user_id is required: ${this.vendor} ends all of a user's sessions, not one` });
    const problem = pathIdProblem(call.userId);
    if (problem) throw this.failure({ code: "user_id_invalid", message: `user_id ${problem}` });
    const { res, token } = await this.bearer.send({ method: "POST", path: this.signOutPath(encodeURIComponent(call.userId)), signal: call.signal });
    const failure = this.signOutFailure(res);
    if (failure) throw this.failure(failure, token);
    return { ...endedNow(), allOfUser: true };
  }

  /** The system lists no sessions: the user's are one unit, ended together. */
  async listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    return { sessions: [{ sessionId: ALL_SESSIONS, userId: call.userId, active: true }], complete: true };
  }

  async close(): Promise<void> {
    await Promise.all([this.api.close(), this.login.close()]);
  }

  /** The path (below the API's base URL) that signs the user out everywhere; the id is already percent-encoded. */
  protected abstract signOutPath(encodedUserId: string): string;
  /** Undefined when the sign-out answer is success; otherwise the answer for the mapping table. */
  protected abstract signOutFailure(res: UpstreamResponse): UpstreamAnswer | undefined;
  /** The token request: its path below the token URL, its form, and what in it is this attempt's own secret (a signed assertion). */
  protected abstract tokenRequest(): Promise<{ path: string; form: URLSearchParams; echoable?: string[] }>;
  /** Secrets that an upstream's message may echo, to be cut out. */
  protected abstract secrets(): string[];

  private async fetchToken(signal: AbortSignal): Promise<IssuedToken> {
    const { path, form, echoable = [] } = await this.tokenRequest();
    const res = await this.login.request({ method: "POST", path, body: form, signal });
    const token = oauthTokenOf(res);
    if ("message" in token) throw this.failure(token, ...echoable);
    return token;
  }

  /** A failure for the mapping layer, with our secrets and what this attempt sent (`echoable`: the token, an assertion) cut out of the upstream's message. */
  private failure(answer: UpstreamAnswer, ...echoable: (string | undefined)[]): ProviderFailure {
    return new ProviderFailure(this.name, withoutSecrets(answer, [...this.secrets(), ...echoable]), this.table);
  }
}
