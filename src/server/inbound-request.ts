import type http from "node:http";
import type http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JWTPayload } from "jose";
import type { GuessLimits } from "../auth/guess-limits.js";
import type { TrustedIssuerSettings } from "../auth/trusted-issuer.js";
import { TokenRefused, type TokenChecks, type TokenVerifier } from "../auth/verify-token.js";
import { Failure } from "../status/failure.js";
import type { BodyBudget } from "./body-budget.js";
import { TOKEN_REASONS } from "./authenticate.js";
import type { CallRecord } from "./call-log.js";
import { readBodyText } from "./json-body.js";

export type Request = http.IncomingMessage | http2.Http2ServerRequest;
export type Response = http.ServerResponse | http2.Http2ServerResponse;

/** An endpoint an identity provider calls by standard, authenticated by the signed token it sends (not by an API key). */
export interface InboundEndpoint {
  readonly path: string;
  /** Serves one request; sets the call record's principal once the caller is known; answers the call line's code. */
  serve(req: Request, res: Response, record: CallRecord): Promise<string>;
}

/** A token verified, or why not: a refusal counted against the client's address (and past the limit, how long it must wait). */
export type Verified<C> = { issuer: C; payload: JWTPayload } | { refused: TokenRefused; retryAfterMs?: number };

/**
 * Verifies a signed token of one of `verifier`'s issuers. A refused token counts as a failed
 * authentication of the client's address, as an unknown API key does; keys that cannot be fetched do not.
 */
export async function verifyInbound<C extends TrustedIssuerSettings>(
  verifier: TokenVerifier<C>,
  token: string,
  checks: (issuer: C) => TokenChecks,
  limits: Pick<GuessLimits, "refusedAuth">,
  req: Request,
): Promise<Verified<C>> {
  try {
    return await verifier.verify(token, checks);
  } catch (err) {
    const refused = err instanceof TokenRefused ? err : new TokenRefused("keys_unavailable", "the token cannot be verified now: retry later");
    if (refused.check === "keys_unavailable") return { refused };
    const retry = await limits.refusedAuth(req.socket?.remoteAddress ?? "", TOKEN_REASONS[refused.check]);
    return { refused, ...(retry && { retryAfterMs: retry.ms }) };
  }
}

/** The body as text, within `limit` bytes held from the budget until the answer is sent. */
export async function readInboundBody(req: Request, res: Response, budget: BodyBudget, limit: number): Promise<string> {
  const held = budget.holder();
  res.once("close", () => held.release());
  return readBodyText(req, limit, held);
}

/** The media type of the request (lower case, no parameters). */
export function mediaTypeOf(req: Request): string {
  return (req.headers["content-type"] ?? "").split(";", 1)[0]!.trim().toLowerCase();
}

/**
 * Whether retrying can help: a failure of the store, or the process's body budget being full
 * (503 with Retry-After); otherwise a 500.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof ConnectError) return err.code === Code.ResourceExhausted || err.code === Code.Unavailable;
  return err instanceof Failure && (err.retryable || err.code === "UNAVAILABLE");
}

/** The client left (it reset the stream or closed the connection) before its body was read: nobody to answer, nothing to log. */
export function clientGone(res: Response): boolean {
  return res.destroyed || ("stream" in res && res.stream.destroyed);
}

/** The call line's code for an HTTP status these endpoints answer. */
export function codeOfStatus(status: number): string {
  return CODE_OF_STATUS[status] ?? (status < 300 ? "OK" : "INTERNAL");
}

const CODE_OF_STATUS: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  405: "UNIMPLEMENTED",
  413: "RESOURCE_EXHAUSTED",
  422: "FAILED_PRECONDITION",
  429: "RESOURCE_EXHAUSTED",
  503: "UNAVAILABLE",
};
