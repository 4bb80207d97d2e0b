import { z } from "zod";
import { secretRef, type Secret } from "../config/secret.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { luckyMonacoTable } from "../status/luckymonaco.js";
import { ProviderFailure } from "../status/provider-failure.js";
import { allowOptions, endedNow, type ListUserSessionsCall, type Provider, type SessionListing, type TerminateCall, type TerminateResult } from "./provider.js";
import { accountId, baseUrl } from "./provider-settings.js";
import { defineProviderType } from "./provider-type.js";
import { isSuccessStatus, undocumentedAnswer } from "./upstream-answer.js";
import { UpstreamHttp, type UpstreamResponse } from "./upstream-http.js";

export interface LuckyMonacoSettings {
  base_url: string;
  /** Our partner id, sent as `secureLogin`. */
  secure_login: string;
  /** The partner token, sent as `token`. */
  token: Secret;
}

/**
 * Provider type `luckymonaco`: the casino game API of seed 000. Sessions are addressed by
 * player: `POST /V4/CloseSession` ends the game sessions of `userId`.
 */
export class LuckyMonacoProvider implements Provider {
  readonly type = "luckymonaco";
  readonly table = luckyMonacoTable;
  readonly verifiesTokens = false;
  /** Its listing is the player as one session, not asked of the upstream. */
  readonly cannotList = true;
  readonly checkOptions = allowOptions({
    gameId: (v) => (v === "" ? "must not be empty" : undefined),
    clearHistory: (v) => (v === "0" || v === "1" ? undefined : 'must be "0" or "1"'),
  });
  private readonly http: UpstreamHttp;

  constructor(
    readonly name: string,
    private readonly settings: LuckyMonacoSettings,
    maxConnections: number,
  ) {
    this.http = new UpstreamHttp(name, this.table, settings.base_url, maxConnections);
  }

  async terminate(call: TerminateCall): Promise<TerminateResult> {
    if (!call.userId) throw new ProviderFailure(this.name, { code: "user_id_missing", message: "user_id is required: LuckyMonaco ends the sessions of a player" }, this.table);
    const { gameId, clearHistory } = call.options;
    const body = {
      secureLogin: this.settings.secure_login,
      userId: call.userId,
      token: this.settings.token.reveal(),
      // The idempotency key: a retry of this request is recognisably the same one.
      uuid: call.requestId,
      ...(gameId !== undefined && { gameId }),
      ...(clearHistory !== undefined && { clearHistory: Number(clearHistory) }),
    };
    const res = await this.http.request({ method: "POST", path: "/V4/CloseSession", body, signal: call.signal });
    const failure = failureOf(res);
    if (failure) throw new ProviderFailure(this.name, failure, this.table);
    return endedNow();
  }

  /**
   * LuckyMonaco lists no sessions: a player's game sessions are one unit that CloseSession ends,
   * named by the player's id. Whether the player is playing is not known until it is tried.
   */
  async listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    return { sessions: [{ sessionId: call.userId, userId: call.userId, active: true }], complete: true };
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

/** Undefined for success; otherwise the answer for the mapping table. */
function failureOf(res: UpstreamResponse): UpstreamAnswer | undefined {
  const json = res.json as { error?: unknown; description?: unknown; errors?: { code?: unknown; message?: unknown } } | undefined;
  const code = typeof json === "object" && json !== null ? codeOf(json.error) : undefined;
  if (code !== undefined) {
    if (code === "0" && isSuccessStatus(res)) return undefined;
    const description = typeof json!.description === "string" ? json!.description : "";
    return { httpStatus: res.status, code, message: description || `error ${code}` };
  }
  const errors = typeof json === "object" && json !== null ? json.errors : undefined;
  if (typeof errors === "object" && errors !== null && typeof errors.code === "string") {
    // The code leads the message so that the table can tell G (generic) from V (validation).
    const message = typeof errors.message === "string" ? errors.message : "";
    return { httpStatus: res.status, code: errors.code, message: `${errors.code}: ${message}` };
  }
  return undocumentedAnswer(res, '{"error", "description"}');
}

/** The `error` field as a string: it may arrive as a number or as a string. */
function codeOf(error: unknown): string | undefined {
  if (typeof error === "number" && Number.isInteger(error)) return String(error);
  if (typeof error === "string" && /^\s*\d+\s*$/.test(error)) return String(Number(error));
  return undefined;
}

/** Provider type `luckymonaco`: base URL, partner id and partner token. */
export const luckyMonacoType = defineProviderType({
  type: "luckymonaco",
  table: luckyMonacoTable,
  settings: z.strictObject({
    base_url: baseUrl,
    secure_login: accountId,
    token: secretRef,
  }),
  create: (name, settings, deps) => new LuckyMonacoProvider(name, settings, deps.maxConnections),
});
