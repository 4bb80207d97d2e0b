import type { Logger } from "pino";
import type { GuessLimits } from "../auth/guess-limits.js";
import type { TrustedIssuerSettings } from "../auth/trusted-issuer.js";
import type { TokenVerifier } from "../auth/verify-token.js";
import type { InboundRevocation } from "../sessions/inbound-revocation.js";
import { Failure } from "../status/failure.js";
import type { BodyBudget } from "./body-budget.js";
import type { CallRecord } from "./call-log.js";
import { errorAnswer } from "./inbound-error.js";
import { clientGone, isRetryable, mediaTypeOf, readInboundBody, verifyInbound, type InboundEndpoint, type Request, type Response } from "./inbound-request.js";

/** A Global Token Revocation caller as the endpoint checks it. */
export interface GtrCaller extends TrustedIssuerSettings {
  /** The issuers whose `iss_sub` subjects it may name: its own, and those configured. */
  subjectIssuers: readonly string[];
  /** A scope its tokens must carry, else 403. */
  requiredScope?: string;
}

export interface GtrDeps {
  verifier: TokenVerifier<GtrCaller>;
  revocation: Pick<InboundRevocation, "handle">;
  /** This service's issuer (public_url): the tokens' `aud` is the endpoint's URL under it. */
  issuer: () => string;
  limits: Pick<GuessLimits, "refusedAuth">;
  budget: BodyBudget;
  log: Logger;
}

/** A request holds a subject identifier: a few hundred bytes. */
const GTR_READ_MAX_BYTES = 16 * 1024;

/** A caller's token must have been issued, and must expire, within this many seconds of now. */
const TOKEN_WINDOW_SEC = 300;

/** An error as OAuth answers one (`error`, `error_description`), as the draft asks. */
const answer = errorAnswer({ code: "error", description: "error_description" });

const INVALID_TOKEN = { "www-authenticate": 'Bearer realm="global-token-revocation", error="invalid_token"' };

/** The header that names the operation a request started. */
const OPERATION_HEADER = "session-control-operation";

/**
 * POST /global-token-revocation (draft-parecki-oauth-global-token-revocation-06): an identity
 * provider, authenticated by a short-lived JWT it signs (RFC 7523 style), asks that every session
 * of a user be ended. 204 once the operation has begun; the draft's 400, 401, 403, 404, 422, and 429.
 */
export class GlobalTokenRevocation implements InboundEndpoint {
  readonly path = "/global-token-revocation";

  constructor(private readonly deps: GtrDeps) {}

  async serve(req: Request, res: Response, record: CallRecord): Promise<string> {
    if (req.method !== "POST") return answer(res, 405, "invalid_request", `${this.path} takes POST`, { allow: "POST" });
    try {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];
      if (token === undefined) return answer(res, 401, "invalid_request", "send a signed JWT as Authorization: Bearer <token>", { "www-authenticate": 'Bearer realm="global-token-revocation"' });
      const audience = this.deps.issuer() + this.path;
      const verified = await verifyInbound(this.deps.verifier, token, () => ({ audience, requiredClaims: ["jti", "iat", "exp"], maxAgeSec: TOKEN_WINDOW_SEC, maxLifetimeSec: TOKEN_WINDOW_SEC, refuseSecurityEvents: true }), this.deps.limits, req);
      if ("refused" in verified) {
        const { refused, retryAfterMs } = verified;
        if (refused.check === "keys_unavailable") return answer(res, 503, "temporarily_unavailable", refused.message, { "retry-after": "5" });
        if (retryAfterMs !== undefined) return answer(res, 429, "too_many_requests", "too many failed authentications from this address: retry later", { "retry-after": String(Math.ceil(retryAfterMs / 1000)) });
        return answer(res, 401, "invalid_token", refused.message, INVALID_TOKEN);
      }
      const { issuer, payload } = verified;
      record.principal = issuer.issuer;
      if (issuer.requiredScope !== undefined && !scopesOf(payload.scope).includes(issuer.requiredScope)) {
        return answer(res, 403, "insufficient_scope", `the token's scope must include ${issuer.requiredScope}`, { "www-authenticate": `Bearer realm="global-token-revocation", error="insufficient_scope", scope="${issuer.requiredScope}"` });
      }
      if (mediaTypeOf(req) !== "application/json") return answer(res, 400, "invalid_request", "the body must be application/json");
      const subject = subjectOf(await readInboundBody(req, res, this.deps.budget, GTR_READ_MAX_BYTES));
      const outcome = await this.deps.revocation.handle({
        issuer: issuer.issuer,
        jti: payload.jti!,
        rememberUntil: new Date((payload.exp! + TOKEN_WINDOW_SEC) * 1000),
        subject,
        subjectIssuers: issuer.subjectIssuers,
        reason: `global token revocation by ${issuer.issuer}`,
        act: true,
      });
      if (outcome.kind !== "started") return answer(res, 404, "user_not_found", "no user is known by this subject identifier");
      const operation = { [OPERATION_HEADER]: outcome.progress.operation.id };
      if (outcome.unable) return answer(res, 422, "unable_to_log_out", "no provider could end this user's sessions: see the operation", operation);
      res.writeHead(204, { "cache-control": "no-store", ...operation });
      res.end();
      return "OK";
    } catch (err) {
      return this.answerFailure(res, err);
    }
  }

  private answerFailure(res: Response, err: unknown): string {
    if (err instanceof Failure && err.reason === "TOKEN_REPLAYED") return answer(res, 401, "invalid_token", err.message, INVALID_TOKEN);
    if (err instanceof Failure && err.reason === "MESSAGE_TOO_LARGE") return answer(res, 413, "invalid_request", err.message);
    if (err instanceof Failure && err.code === "INVALID_ARGUMENT") return answer(res, 400, "invalid_request", err.message);
    if (err instanceof Failure && err.code === "RESOURCE_EXHAUSTED") return answer(res, 429, "too_many_requests", err.message);
    if (err instanceof Failure && err.code === "PERMISSION_DENIED") return answer(res, 403, "insufficient_scope", err.message);
    if (clientGone(res)) return "CANCELED";
    if (isRetryable(err)) return answer(res, 503, "temporarily_unavailable", "the request cannot be carried out now: retry later", { "retry-after": "5" });
    this.deps.log.error({ err }, "global token revocation failed");
    return answer(res, 500, "server_error", "the request could not be carried out");
  }
}

/** The body's `sub_id`: an object (its format is checked when it is resolved). */
function subjectOf(text: string): unknown {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Failure("INVALID_ARGUMENT", "INVALID_ARGUMENT", "the body is not valid JSON");
  }
  const subject = typeof body === "object" && body !== null ? (body as { sub_id?: unknown }).sub_id : undefined;
  if (typeof subject !== "object" || subject === null || Array.isArray(subject)) throw new Failure("INVALID_ARGUMENT", "SUBJECT_INVALID", 'the body must be {"sub_id": {"format": ..., ...}}');
  return subject;
}

/** A `scope` claim's values: a space-separated string (RFC 8693), or an array. */
function scopesOf(scope: unknown): string[] {
  if (typeof scope === "string") return scope.split(" ").filter(Boolean);
  return Array.isArray(scope) ? scope.filter((s): s is string => typeof s === "string") : [];
}
