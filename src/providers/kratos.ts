import { z } from "zod";
import { secretRef, type Secret } from "../config/secret.js";
import type { UpstreamAnswer } from "../status/answer.js";
import { kratosTable } from "../status/kratos.js";
import { ProviderFailure } from "../status/provider-failure.js";
import { countOpenSessions, newSessions } from "./one-or-all.js";
import { UUID } from "./path-id.js";
import { allowOptions, endedNow, type ListUserSessionsCall, type Provider, type SessionListing, type TerminateCall, type TerminateResult, type UpstreamSession } from "./provider.js";
import { baseUrl } from "./provider-settings.js";
import { defineProviderType } from "./provider-type.js";
import { isSuccessStatus, retryAfterOf, undocumentedAnswer, withoutSecrets } from "./upstream-answer.js";
import { UpstreamHttp, type UpstreamRequest, type UpstreamResponse } from "./upstream-http.js";

export interface KratosSettings {
  /** Kratos' admin API, e.g. http://kratos:4434, or an Ory Network project's https://<slug>.projects.oryapis.com. */
  admin_url: string;
  /** An Ory Network API key, sent as `Authorization: Bearer`; a self-hosted admin port takes none. */
  token?: Secret | undefined;
}

/** Sessions asked for per page of a listing. */
const PAGE_SIZE = 500;
/** Pages of a listing read at most. */
const MAX_PAGES = 200;

/** A session as the admin API lists it. */
interface ListedSession {
  id: string;
  active?: boolean;
  identity?: { id?: unknown } | null;
}

/**
 * Provider type `kratos`: Ory Kratos' admin API (self-hosted, or Ory Network with an API key).
 * `DELETE /admin/sessions/{id}` deactivates one session; `DELETE /admin/identities/{id}/sessions`
 * deletes all of an identity's, after `GET /admin/identities/{id}/sessions?active=true` has said
 * how many were open. Ids are UUIDs; anything else is refused before a request is sent.
 */
export class KratosProvider implements Provider {
  readonly type = "kratos";
  readonly table = kratosTable;
  readonly verifiesTokens = false;
  readonly endsAllOfUser = true;
  readonly checkOptions = allowOptions({});
  private readonly http: UpstreamHttp;

  constructor(
    readonly name: string,
    private readonly settings: KratosSettings,
    maxConnections: number,
  ) {
    this.http = new UpstreamHttp(name, this.table, settings.admin_url, maxConnections);
  }

  async terminate(call: TerminateCall): Promise<TerminateResult> {
    if (call.allOfUser) return this.endAllOfUser(call);
    this.refuseId(call.sessionId, "session_id_invalid", "session_id");
    const res = await this.send({ method: "DELETE", path: `/admin/sessions/${encodeURIComponent(call.sessionId)}`, signal: call.signal });
    if (!isSuccessStatus(res)) throw this.failure(answerOf(res));
    return endedNow();
  }

  /** The identity's active sessions, page by page as the Link header leads; incomplete when MAX_PAGES or the call's limit stopped it. */
  async listUserSessions(call: ListUserSessionsCall): Promise<SessionListing> {
    this.refuseId(call.userId, "user_id_invalid", "user_id");
    const path = `/admin/identities/${encodeURIComponent(call.userId)}/sessions`;
    const listed: UpstreamSession[] = [];
    let query = `?active=true&per_page=${PAGE_SIZE}`;
    for (let page = 0; page < MAX_PAGES && listed.length < (call.limit ?? Infinity); page++) {
      const res = await this.send({ method: "GET", path: path + query, signal: call.signal });
      // Kratos lists an unknown identity as one without sessions; a 404 says the same.
      if (res.status === 404 && isKratosNotFound(res)) return { sessions: listed, complete: true };
      const sessions = sessionsOf(res);
      if (!sessions) throw this.failure(isSuccessStatus(res) ? undocumentedAnswer(res, "an array of sessions") : answerOf(res));
      const fresh = newSessions(listed, sessions.map((s) => ({ sessionId: s.id, userId: typeof s.identity?.id === "string" ? s.identity.id : call.userId, active: s.active !== false })));
      listed.push(...fresh);
      // A page with nothing new (an empty one, or a Link back to a page seen) ends the listing.
      const next = fresh.length === 0 ? undefined : nextPage(res, path);
      if (next === undefined) return { sessions: listed, complete: true };
      query = next;
    }
    return { sessions: listed, complete: false };
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  /**
   * Counts the identity's active sessions (when it can: the count is a report, the delete is the
   * work), then deletes them all with one call. Kratos answers
   * 404 when the identity has no session rows left: nothing was open, so nothing is left to end.
   */
  private async endAllOfUser(call: TerminateCall): Promise<TerminateResult> {
    if (!call.userId) throw this.failure({ code: "user_id_missing", message: "user_id is required to end all of a user's sessions" });
    const open = await countOpenSessions(this.listUserSessions(call));
    const res = await this.send({ method: "DELETE", path: `/admin/identities/${encodeURIComponent(call.userId)}/sessions`, signal: call.signal });
    const none = res.status === 404 && isKratosNotFound(res);
    if (!isSuccessStatus(res) && !none) throw this.failure(answerOf(res));
    return { ...endedNow(), userId: call.userId, allOfUser: true, ...(none ? { sessionsEnded: 0 } : open !== undefined && { sessionsEnded: open }), alreadyTerminated: none };
  }

  private send(req: Omit<UpstreamRequest, "headers">): Promise<UpstreamResponse> {
    const token = this.settings.token?.reveal();
    return this.http.request({ ...req, ...(token !== undefined && { headers: { authorization: `Bearer ${token}` } }) });
  }

  /** Refuses, before anything is sent, an id that is not a UUID. */
  private refuseId(id: string, code: string, field: string): void {
    if (!UUID.test(id)) throw this.failure({ code, message: `${field} must be a UUID, as Kratos' ids are` });
  }

  /** A failure for the mapping layer, our API key cut out of the upstream's words. */
  private failure(answer: UpstreamAnswer): ProviderFailure {
    return new ProviderFailure(this.name, withoutSecrets(answer, [this.settings.token?.reveal()]), this.table);
  }
}

/** The listed sessions; undefined when the answer is not a list of them. */
function sessionsOf(res: UpstreamResponse): ListedSession[] | undefined {
  if (!isSuccessStatus(res) || !Array.isArray(res.json)) return undefined;
  const list = res.json as unknown[];
  return list.every((s) => typeof s === "object" && s !== null && typeof (s as ListedSession).id === "string") ? (list as ListedSession[]) : undefined;
}

/** The query of the Link header's rel="next" page, when it is a page of the same listing. */
function nextPage(res: UpstreamResponse, path: string): string | undefined {
  const link = /<([^>]*)>\s*;\s*rel="?next"?/.exec(res.headers["link"] ?? "")?.[1];
  if (link === undefined) return undefined;
  const url = new URL(link, "http://kratos.invalid");
  // Only the query is taken: the page is asked for at the same path, whatever host the link names.
  return url.pathname.endsWith(path) && url.search !== "" ? url.search : undefined;
}

type HerodotError = { id?: unknown; code?: unknown; status?: unknown; reason?: unknown; message?: unknown };

function herodotError(res: UpstreamResponse): HerodotError | undefined {
  const error = (res.json as { error?: unknown } | undefined)?.error;
  return typeof error === "object" && error !== null ? (error as HerodotError) : undefined;
}

/** A 404 in Kratos' own words (sqlcon.ErrNoRows), not a router's or a proxy's. */
function isKratosNotFound(res: UpstreamResponse): boolean {
  const message = herodotError(res)?.message;
  return typeof message === "string" && message.startsWith("Unable to locate the resource");
}

/** Kratos' error answer (herodot): `error.id` as the code, `error.message` and `error.reason` as the words; Retry-After when rate-limited. */
function answerOf(res: UpstreamResponse): UpstreamAnswer {
  const error = herodotError(res);
  const retryAfterMs = retryAfterOf(res);
  const limited = retryAfterMs !== undefined ? { retryAfterMs } : {};
  if (!error || typeof error.message !== "string") return { ...undocumentedAnswer(res, "Kratos' {error: {...}}"), ...limited };
  const reason = typeof error.reason === "string" && error.reason !== "" ? ` (${error.reason})` : "";
  const id = typeof error.id === "string" && error.id !== "" ? { code: error.id } : {};
  return { httpStatus: res.status, ...id, message: error.message + reason, ...limited };
}

/** Provider type `kratos`: the admin URL, and an Ory Network API key when there is one. */
export const kratosType = defineProviderType({
  type: "kratos",
  table: kratosTable,
  settings: z.strictObject({
    admin_url: baseUrl,
    token: secretRef.optional(),
  }),
  create: (name, settings, deps) => new KratosProvider(name, settings, deps.maxConnections),
});
