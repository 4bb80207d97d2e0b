import type { Logger } from "pino";
import type { GuessLimits } from "../auth/guess-limits.js";
import { sameUrl, type TrustedIssuerSettings } from "../auth/trusted-issuer.js";
import type { TokenCheck, TokenVerifier } from "../auth/verify-token.js";
import type { InboundRevocation } from "../sessions/inbound-revocation.js";
import { Failure } from "../status/failure.js";
import type { BodyBudget } from "./body-budget.js";
import type { CallRecord } from "./call-log.js";
import { errorAnswer } from "./inbound-error.js";
import { clientGone, isRetryable, mediaTypeOf, readInboundBody, verifyInbound, type InboundEndpoint, type Request, type Response } from "./inbound-request.js";

/** The events a transmitter's SETs may carry that can end sessions, by the name the configuration gives them. */
export const RECEIVED_EVENTS = {
  session_revoked: "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
  credential_change: "https://schemas.openid.net/secevent/caep/event-type/credential-change",
  account_disabled: "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
  account_purged: "https://schemas.openid.net/secevent/risc/event-type/account-purged",
  sessions_revoked: "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked",
} as const;

export type ReceivedEvent = keyof typeof RECEIVED_EVENTS;

const EVENT_BY_URI: ReadonlyMap<string, ReceivedEvent> = new Map(Object.entries(RECEIVED_EVENTS).map(([name, uri]) => [uri, name as ReceivedEvent]));

/** A Shared Signals transmitter as the receiver checks it. */
export interface Transmitter extends TrustedIssuerSettings {
  /** The issuers whose `iss_sub` subjects it may name: its own, and those configured. */
  subjectIssuers: readonly string[];
  /** Its SETs' `aud`; default this service's issuer. */
  audience?: string;
  /** What each event starts; events not named here are acknowledged and ignored. */
  actions: Readonly<Record<ReceivedEvent, "terminate_user" | "ignore">>;
}

export interface SsfReceiverDeps {
  verifier: TokenVerifier<Transmitter>;
  revocation: Pick<InboundRevocation, "handle">;
  /** This service's issuer (public_url): the default audience, and an issuer whose SETs are never acted on. */
  issuer: () => string;
  /** SETs issued longer ago are refused; a SET's jti is remembered as long. */
  maxEventAgeMs: number;
  limits: Pick<GuessLimits, "refusedAuth">;
  budget: BodyBudget;
  log: Logger;
}

/** An error as RFC 8935 §2.4 answers one: `{"err", "description"}`. */
const answer = errorAnswer({ code: "err", description: "description" });

/** A SET is a compact JWS of a few kilobytes. */
const SET_READ_MAX_BYTES = 64 * 1024;

/** RFC 8935 §2.4's error code for each failed check of a SET. */
const ERR_OF_CHECK: Readonly<Record<Exclude<TokenCheck, "keys_unavailable">, string>> = {
  malformed: "invalid_request",
  type: "invalid_request",
  claims: "invalid_request",
  expired: "invalid_request",
  not_yet_valid: "invalid_request",
  issuer: "invalid_issuer",
  audience: "invalid_audience",
  key: "invalid_key",
  algorithm: "invalid_key",
  signature: "authentication_failed",
};

/**
 * POST /ssf/events: the Shared Signals receiver (SSF 1.0 push delivery, RFC 8935). A SET of a
 * configured transmitter (typ secevent+jwt, signature, iss, aud, a jti not seen before) whose
 * event is configured to `terminate_user` ends every session of its subject's user; the answer
 * is 202 once the SET is accepted, whatever the subject, and errors are 400 `{"err", "description"}`.
 */
export class SsfReceiver implements InboundEndpoint {
  readonly path = "/ssf/events";

  constructor(private readonly deps: SsfReceiverDeps) {}

  async serve(req: Request, res: Response, record: CallRecord): Promise<string> {
    if (req.method !== "POST") return answer(res, 405, "invalid_request", `${this.path} takes POST`, { allow: "POST" });
    try {
      if (mediaTypeOf(req) !== "application/secevent+jwt") return answer(res, 400, "invalid_request", "the body must be a SET: Content-Type application/secevent+jwt");
      const set = await readInboundBody(req, res, this.deps.budget, SET_READ_MAX_BYTES);
      const maxAgeSec = Math.floor(this.deps.maxEventAgeMs / 1000);
      const verified = await verifyInbound(this.deps.verifier, set, (t) => ({ audience: t.audience ?? sameUrl(this.deps.issuer()), typ: "secevent+jwt", requiredClaims: ["jti", "iat", "events"], maxAgeSec }), this.deps.limits, req);
      if ("refused" in verified) {
        const { refused, retryAfterMs } = verified;
        if (refused.check === "keys_unavailable") return answer(res, 503, "temporarily_unavailable", refused.message, { "retry-after": "5" });
        if (retryAfterMs !== undefined) return answer(res, 429, "access_denied", "too many refused SETs from this address: retry later", { "retry-after": String(Math.ceil(retryAfterMs / 1000)) });
        return answer(res, 400, ERR_OF_CHECK[refused.check], refused.message);
      }
      const { issuer: transmitter, payload } = verified;
      record.principal = transmitter.issuer;
      if (sameUrl(this.deps.issuer()).includes(transmitter.issuer)) return answer(res, 400, "invalid_issuer", "SETs issued by this service are never acted on");
      const events = eventsOf(payload.events);
      const acting = events.find((e) => e.name !== undefined && transmitter.actions[e.name] === "terminate_user");
      const outcome = await this.deps.revocation.handle({
        issuer: transmitter.issuer,
        jti: payload.jti!,
        rememberUntil: new Date(payload.iat! * 1000 + this.deps.maxEventAgeMs + 60_000),
        subject: payload.sub_id ?? acting?.body.subject,
        subjectIssuers: transmitter.subjectIssuers,
        reason: acting ? reasonOf(acting.name!, transmitter.issuer, acting.body) : "",
        act: acting !== undefined,
      });
      this.deps.log.info({ issuer: transmitter.issuer, events: events.map((e) => e.name ?? "other"), outcome: outcome.kind, ...(outcome.kind === "started" && { operation_id: outcome.progress.operation.id }) }, "received a SET");
      res.writeHead(202, { "cache-control": "no-store" });
      res.end();
      return "OK";
    } catch (err) {
      return this.answerFailure(res, err);
    }
  }

  private answerFailure(res: Response, err: unknown): string {
    if (err instanceof Failure && err.reason === "TOKEN_REPLAYED") return answer(res, 400, "invalid_request", "this SET (jti) was received before");
    if (err instanceof Failure && (err.code === "INVALID_ARGUMENT" || err.code === "RESOURCE_EXHAUSTED")) return answer(res, 400, "invalid_request", err.message);
    if (err instanceof Failure && err.code === "PERMISSION_DENIED") return answer(res, 400, "access_denied", err.message);
    if (clientGone(res)) return "CANCELED";
    if (isRetryable(err)) return answer(res, 503, "temporarily_unavailable", "the SET cannot be accepted now: retry later", { "retry-after": "5" });
    this.deps.log.error({ err }, "receiving a SET failed");
    return answer(res, 500, "server_error", "the SET could not be accepted");
  }
}

/** The SET's events: each member of `events` (an object), with the name this service knows it by, if any. */
function eventsOf(events: unknown): { name: ReceivedEvent | undefined; body: Record<string, unknown> }[] {
  if (typeof events !== "object" || events === null || Array.isArray(events) || Object.keys(events).length === 0) {
    throw new Failure("INVALID_ARGUMENT", "SET_INVALID", "the SET's events claim must be an object with one member per event");
  }
  return Object.entries(events).map(([uri, body]) => ({
    name: EVENT_BY_URI.get(uri),
    body: typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {},
  }));
}

/** Why the operation runs: the event, its transmitter, and the administrator's reason in English when the event gives one. */
function reasonOf(event: ReceivedEvent, issuer: string, body: Record<string, unknown>): string {
  const admin = body["reason_admin"];
  const english = typeof admin === "object" && admin !== null ? (admin as Record<string, unknown>)["en"] : undefined;
  return `shared signals ${event} from ${issuer}${typeof english === "string" ? `: ${english}` : ""}`;
}
