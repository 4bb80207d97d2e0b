import type { Delivery, DeliveryOutcome } from "../store/outbox-types.js";
import { outcomeOfAnswer, outcomeOfNoAnswer, type RetrySettings } from "./classify.js";
import type { ReceiverHttp } from "./post.js";
import { setClaims } from "./set-claims.js";
import type { SetSigner } from "./set-signer.js";
import type { Target } from "./targets.js";
import { webhookBody, webhookHeaders } from "./webhook-message.js";

export interface AttemptContext {
  http: ReceiverHttp;
  signer: SetSigner;
  /** The SETs' `iss` (public_url). */
  issuer: string;
  requestTimeoutMs: number;
  retry: RetrySettings;
  /** Aborted when the service stops: the attempt is cut short and tried again at the next start. */
  stopping: AbortSignal;
}

/** One attempt to deliver: the request built (a signed SET, or a signed webhook), sent, and its answer judged. */
export async function attempt(d: Delivery, target: Target, ctx: AttemptContext): Promise<DeliveryOutcome> {
  if (d.expiresAt.getTime() <= Date.now()) return { state: "expired" };
  const request = await build(d, target, ctx);
  if ("state" in request) return request;
  const signal = AbortSignal.any([ctx.stopping, AbortSignal.timeout(ctx.requestTimeoutMs)]);
  try {
    const answer = await ctx.http.post(target.endpoint, request.headers, request.body, signal);
    return outcomeOfAnswer(target.kind, answer, d.attempts, ctx.retry);
  } catch (err) {
    if (ctx.stopping.aborted) return { state: "pending", lastError: { message: "interrupted: the service stopped" }, nextAttemptAt: new Date() };
    const message = signal.aborted
      ? `no answer within notifications.request_timeout_ms (${ctx.requestTimeoutMs} ms)`
      : `could not reach the receiver (${errorCode(err)})`;
    return outcomeOfNoAnswer(message, d.attempts, ctx.retry);
  }
}

interface Request {
  headers: Record<string, string>;
  body: string;
}

/** The request of an attempt, or the outcome when there can be none. */
async function build(d: Delivery, target: Target, ctx: AttemptContext): Promise<Request | DeliveryOutcome> {
  const auth: Record<string, string> = target.authorization ? { authorization: target.authorization.reveal() } : {};
  if (target.kind === "ssf") {
    const body = await ctx.signer.sign(setClaims(d, target, ctx.issuer));
    return { body, headers: { "content-type": "application/secevent+jwt", accept: "application/json", ...auth } };
  }
  if (d.notice.kind !== "session-revoked") return { state: "failed", lastError: { message: `a webhook receiver takes no ${d.notice.kind} events` } };
  if (!target.secret) return { state: "failed", lastError: { message: "the webhook receiver has no secret to sign with" } };
  const body = webhookBody(d.notice);
  return { body, headers: { "content-type": "application/json", ...webhookHeaders(target.secret, d.jti, body, new Date()), ...auth } };
}

/** A connection failure's code (ECONNREFUSED, UND_ERR_SOCKET...), never its whole message. */
function errorCode(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown }; name?: unknown };
  const code = e.code ?? e.cause?.code ?? e.name;
  return typeof code === "string" ? code : "error";
}
