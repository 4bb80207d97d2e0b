import { z } from "zod";
import { base32Decode, totp } from "../auth/totp.js";
import { secretRef, type Secret } from "../config/secret.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { ProviderFailure } from "../status/provider-failure.js";
import { rocketchatTable } from "../status/rocketchat.js";
import { allowOptions, endedNow, type ListUserSessionsCall, type Provider, type SessionListing, type TerminateCall, type TerminateResult, type UpstreamSession } from "./provider.js";
import { accountId, baseUrl } from "./provider-settings.js";
import { defineProviderType } from "./provider-type.js";
import { undocumentedAnswer } from "./upstream-answer.js";
import { UpstreamHttp, type UpstreamResponse } from "./upstream-http.js";

export interface RocketChatSettings {
  base_url: string;
  /** Our user's id, sent as X-User-Id. */
  user_id: string;
  /** Our user's (personal access) token, sent as X-Auth-Token. */
  auth_token: Secret;
  /** Our user's base32 TOTP secret; without it the caller's x-2fa-code is forwarded. */
  totp_secret?: Secret | undefined;
}

/** Sessions asked for per page of sessions/list.all (Rocket.Chat's default upper count limit). */
const PAGE_SIZE = 100;
/** Pages read at most for one user, so a misbehaving upstream cannot keep us reading. */
const MAX_PAGES = 100;
/** User ids that mean the same as a regex and as plain text: older Rocket.Chat takes `filter` as a regex, newer escapes it. */
const PLAIN_ID = /^[A-Za-z0-9_-]+$/;

/**
 * Provider type `rocketchat`: Rocket.Chat's device management (seed 004). Ends a session with
 * `POST /api/v1/sessions/logout` as our admin user, with the second factor computed from the
 * configured TOTP secret or forwarded from the caller.
 */
export class RocketChatProvider implements Provider {
  readonly type = "rocketchat";
  readonly table = rocketchatTable;
  readonly verifiesTokens = false;
  readonly checkOptions = allowOptions({});
  private readonly http: UpstreamHttp;
  /** The decoded TOTP secret; a private field, so that no inspection shows it. */
  readonly #totpKey: Buffer | undefined;

  constructor(
    readonly name: string,
    private readonly settings: RocketChatSettings,
    maxConnections: number,
    /** The clock for TOTP codes (ms since the epoch). */
    private readonly now: () => number = Date.now,
  ) {
    this.http = new UpstreamHttp(name, this.table, settings.base_url, maxConnections);
    this.#totpKey = settings.totp_secret && base32Decode(settings.totp_secret.reveal());
    if (settings.totp_secret && !this.#totpKey) throw new Error("totp_secret: must be a base32 TOTP secret");
  }

  async terminate(call: TerminateCall): Promise<TerminateResult> {
    const res = await this.http.request({
      method: "POST",
      path: "/api/v1/sessions/logout",
      headers: this.headers(call.twoFactorCode),
      body: { sessionId: call.sessionId },
      signal: call.signal,
    });
    const json = res.json as { success?: unknown; sessionId?: unknown } | undefined;
    if (res.status === 200 && json?.success === true && json.sessionId === call.sessionId) return endedNow();
    throw this.failure(res, '{"sessionId", "success": true}');
  }

  /**
   * The user's active sessions, read page by page from sessions/list.all and kept when their userId is the user's;
   * incomplete when it stopped at MAX_PAGES (pages of every user's sessions, for an id not sent as a filter) or at the call's limit.
   */
  async listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    const sessions: UpstreamSession[] = [];
    for (let page = 0, offset = 0; page < MAX_PAGES; page++) {
      const query = new URLSearchParams({ offset: String(offset), count: String(PAGE_SIZE) });
      // An id with other characters is not sent: the upstream might read it as a pattern. The check below filters anyway.
      if (PLAIN_ID.test(call.userId)) query.set("filter", call.userId);
      const res = await this.http.request({ method: "GET", path: `/api/v1/sessions/list.all?${query}`, headers: this.headers(undefined), signal: call.signal });
      const listed = listPage(res);
      if (!listed) throw this.failure(res, "{sessions: [{sessionId, userId}], total}");
      for (const s of listed.sessions) if (s.userId === call.userId) sessions.push({ sessionId: s.sessionId, userId: s.userId, active: s.logoutAt === undefined });
      offset += listed.sessions.length;
      if (listed.sessions.length === 0 || offset >= listed.total) return { sessions, complete: true };
      if (sessions.length >= (call.limit ?? Infinity)) break;
    }
    return { sessions, complete: false };
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  /** Our credentials and the second factor: ours from the configured secret, else the caller's. */
  private headers(callerCode: string | undefined): Record<string, string> {
    const headers: Record<string, string> = { "x-user-id": this.settings.user_id, "x-auth-token": this.settings.auth_token.reveal() };
    if (this.#totpKey) {
      headers["x-2fa-code"] = totp(this.#totpKey, this.now());
      headers["x-2fa-method"] = "totp";
    } else if (callerCode) headers["x-2fa-code"] = callerCode;
    return headers;
  }

  private failure(res: UpstreamResponse, documented: string): ProviderFailure {
    return new ProviderFailure(this.name, answerOf(res, documented, this.#totpKey !== undefined), this.table);
  }
}

interface ListedSession {
  sessionId: string;
  userId: string;
  logoutAt?: unknown;
}

/** One page of sessions/list.all; undefined when it is not the documented success. */
function listPage(res: UpstreamResponse): { sessions: ListedSession[]; total: number } | undefined {
  const json = res.json as { success?: unknown; sessions?: unknown; total?: unknown } | undefined;
  if (res.status !== 200 || json?.success !== true || !Array.isArray(json.sessions) || typeof json.total !== "number") return undefined;
  const sessions = json.sessions as unknown[];
  const valid = sessions.every((s) => typeof s === "object" && s !== null && typeof (s as ListedSession).sessionId === "string" && typeof (s as ListedSession).userId === "string");
  return valid ? { sessions: sessions as ListedSession[], total: json.total } : undefined;
}

/**
 * Rocket.Chat's error bodies: `{"status":"error","message"}` (not logged in) and
 * `{"success":false,"error":"text [code]","errorType"?,"details"?}` (everything else), on
 * an error status or on 200. A second-factor code is marked `:configured` when our secret supplied the code.
 */
function answerOf(res: UpstreamResponse, documented: string, totpConfigured: boolean): UpstreamAnswer {
  const json = res.json as { success?: unknown; error?: unknown; errorType?: unknown; status?: unknown; message?: unknown } | undefined;
  const message = json?.success === false && typeof json.error === "string" ? json.error : json?.status === "error" && typeof json.message === "string" ? json.message : undefined;
  if (message === undefined) return undocumentedAnswer(res, documented);
  const code = typeof json?.errorType === "string" ? json.errorType : /\[([\w.-]+)\]$/.exec(message)?.[1];
  const ours = totpConfigured && (code === "totp-required" || code === "totp-invalid");
  return { httpStatus: res.status, ...(code !== undefined && { code: ours ? `${code}:configured` : code }), message };
}

/** Provider type `rocketchat`: base URL, our user id and token, and optionally our TOTP secret. */
export const rocketchatType = defineProviderType({
  type: "rocketchat",
  table: rocketchatTable,
  settings: z.strictObject({
    base_url: baseUrl,
    user_id: accountId,
    auth_token: secretRef,
    totp_secret: secretRef.refine((s) => base32Decode(s.reveal()) !== undefined, "must be a base32 TOTP secret").optional(),
  }),
  create: (name, settings, deps) => new RocketChatProvider(name, settings, deps.maxConnections),
});
