import type { UpstreamAnswer } from "../status/answer.js";
import type { UpstreamSession } from "./provider.js";
import type { IssuedToken } from "./oauth-token-cache.js";
import { isSuccessStatus, issuedTokenOf, malformedAnswer } from "./upstream-answer.js";
import type { UpstreamResponse } from "./upstream-http.js";

/*
 * senhasegura's replies: `{code, response: {status, message, error, error_code, detail, mensagem,
 * erro, cod_erro}, ...}`, sometimes with the error only in the body of an HTTP 200. Its OAuth
 * server answers `{error, error_description, message}`, its gateway `{message}`, proxies plain text.
 */

type Json = Record<string, unknown>;

/** Where a message may be, in the order they are read; `response` is looked in before the top level. */
const MESSAGE_FIELDS = ["message", "detail", "mensagem", "error_description", "hint"] as const;
/** Longest upstream message kept: an HTML error page is not a message. */
const MAX_MESSAGE = 300;

/** Undefined for senhasegura's success envelope; otherwise the answer for the mapping table. */
export function dropFailure(res: UpstreamResponse): UpstreamAnswer | undefined {
  const body = object(res.json);
  if (isSuccessStatus(res) && body && object(body["response"]) && !declaresError(body)) return undefined;
  return failure(res, "senhasegura's {code, response} envelope");
}

/** The listed sessions, or the answer for the mapping table when the reply is not a list. */
export function sessionsOf(res: UpstreamResponse): UpstreamSession[] | UpstreamAnswer {
  const body = object(res.json);
  const list = body?.["remote_sessions"];
  if (!isSuccessStatus(res) || !body || declaresError(body) || !Array.isArray(list)) return failure(res, "{remote_sessions: [...]}");
  return flatten(list).flatMap((entry) => {
    const s = object(entry);
    // `session_id` is the hash the drop endpoint takes; `id` is a row number that it does not.
    if (!s || typeof s["session_id"] !== "string" || s["session_id"] === "") return [];
    return [{ sessionId: s["session_id"], userId: typeof s["user"] === "string" ? s["user"] : "", active: !hasEnded(s["end"]) }];
  });
}

/** The token endpoint's answer: the token, or the answer for the mapping table. */
export function tokenOf(res: UpstreamResponse): IssuedToken | UpstreamAnswer {
  return issuedTokenOf(res) ?? failure(res, "{access_token, expires_in, token_type}");
}

function failure(res: UpstreamResponse, documented: string): UpstreamAnswer {
  const body = object(res.json);
  if (isSuccessStatus(res) && !(body && declaresError(body))) return malformedAnswer(res, documented);
  const code = body ? codeOf(body) : undefined;
  return { httpStatus: res.status, ...(code !== undefined && { code }), message: messageOf(res) };
}

/** Whether a body says it is an error, whatever the HTTP status. */
function declaresError(body: Json): boolean {
  const inner = object(body["response"]) ?? {};
  const status = [body["code"], inner["status"]].some((s) => typeof s === "number" && s >= 400);
  return status || truthy(inner["error"]) || truthy(inner["erro"]) || nonZero(inner["error_code"]) || nonZero(inner["cod_erro"]) || typeof body["error"] === "string";
}

/** The upstream's own code: senhasegura's error_code / cod_erro, or an OAuth `error`. */
function codeOf(body: Json): string | undefined {
  const inner = object(body["response"]) ?? {};
  const code = [inner["error_code"], inner["cod_erro"]].find(nonZero);
  if (code !== undefined) return String(code);
  return typeof body["error"] === "string" && body["error"] !== "" ? body["error"] : undefined;
}

/** Every distinct message the reply carries, so that a row finds its text whichever field holds it. */
function messageOf(res: UpstreamResponse): string {
  const body = object(res.json);
  const sources = [object(body?.["response"]), body].filter((o): o is Json => o !== undefined);
  const found = sources.flatMap((o) => MESSAGE_FIELDS.map((f) => o[f]));
  if (typeof res.json === "string") found.push(res.json);
  if (res.json === undefined) found.push(res.text);
  const messages = [...new Set(found.filter((m): m is string => typeof m === "string").map((m) => m.trim()).filter(Boolean))];
  if (messages.length > 0) return messages.join(" / ").slice(0, MAX_MESSAGE);
  // An OAuth error with no description: its code is all there is to say.
  return typeof body?.["error"] === "string" && body["error"] !== "" ? body["error"] : `HTTP ${res.status}`;
}

/** Entries as listed; some releases nest a whole reply with its own `remote_sessions` in the list. */
function flatten(list: unknown[]): unknown[] {
  return list.flatMap((entry) => {
    const nested = object(entry)?.["remote_sessions"];
    return Array.isArray(nested) ? nested : [entry];
  });
}

/** A session is over once it has an end time; MySQL's zero date means none. */
function hasEnded(end: unknown): boolean {
  return typeof end === "string" && end.trim() !== "" && !end.startsWith("0000-00-00");
}

function object(v: unknown): Json | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function truthy(v: unknown): boolean {
  return v === true || v === 1 || v === "true" || v === "1";
}

function nonZero(v: unknown): boolean {
  return (typeof v === "number" && v !== 0) || (typeof v === "string" && v !== "" && v !== "0");
}
