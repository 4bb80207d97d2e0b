import type { Principal } from "../auth/principal.js";
import { Failure } from "../status/failure.js";
import type { SeenTokenStore } from "../store/store.js";
import type { WorkItem } from "../store/operation-types.js";
import type { EndAllSessions, OperationProgress } from "./end-all-sessions.js";
import { derivedRequestId } from "./request-id.js";

/** Finds this service's user for an RFC 9493 subject identifier (through the identity links). */
export interface SubjectResolver {
  /**
   * Undefined for a subject no user is linked to; throws INVALID_ARGUMENT for one malformed or of
   * an unsupported format, PERMISSION_DENIED for an `iss_sub` of an issuer not in `issuers`.
   */
  resolveSubject(subject: unknown, issuers: readonly string[]): Promise<string | undefined>;
}

/** A request an identity provider made by standard, its signed token verified: end a subject's sessions. */
export interface InboundRequest {
  /** The verified token's issuer: the operation's principal. */
  issuer: string;
  /** The token's id: acted on once, on every replica. */
  jti: string;
  /** Until when the id is remembered (the token cannot be presented after it). */
  rememberUntil: Date;
  subject: unknown;
  /** The issuers whose `iss_sub` subjects the sender may name: its own, and those configured for it. */
  subjectIssuers: readonly string[];
  /** Why, as the operation and the audit trail keep it. */
  reason: string;
  /** False when the request asks for nothing to be ended (an event configured to be ignored); its id is still used up. */
  act: boolean;
}

export type InboundOutcome =
  | { kind: "ignored" }
  | { kind: "unknown_subject" }
  /** `unable`: the operation is over, every provider's work failed for good, and not one session was ended. */
  | { kind: "started"; progress: OperationProgress; unable: boolean };

/** How long a request waits for its operation's first round of work before it is answered. */
const FIRST_ROUND_MS = 2_000;

/** The longest reason kept with an operation. */
const MAX_REASON = 1000;

/**
 * Global Token Revocation and received Shared Signals events: a token's id is used up first (a
 * replay is refused), then its subject is resolved and all of that user's sessions are ended by
 * a TerminateUser operation whose principal is the issuer and whose events say `policy`.
 */
export class InboundRevocation {
  constructor(
    private readonly subjects: SubjectResolver,
    private readonly seen: SeenTokenStore,
    private readonly endAll: Pick<EndAllSessions, "run">,
    /** The service's secret for ids it derives: a token's operation has a request id no caller can compute. */
    private readonly requestIdKey: Buffer,
  ) {}

  async handle(request: InboundRequest): Promise<InboundOutcome> {
    if (!(await this.seen.firstUse(request.issuer, request.jti, request.rememberUntil))) {
      throw new Failure("UNAUTHENTICATED", "TOKEN_REPLAYED", "this token (jti) was presented before: each is acted on once");
    }
    if (!request.act) return { kind: "ignored" };
    try {
      return await this.act(request);
    } catch (err) {
      // Not carried out (the store failed, say): the sender may retry with the same token, as RFC 8935 transmitters do.
      if (!(err instanceof Failure) || err.retryable || err.code === "UNAVAILABLE" || err.code === "INTERNAL") await this.seen.forget(request.issuer, request.jti).catch(() => undefined);
      throw err;
    }
  }

  private async act(request: InboundRequest): Promise<InboundOutcome> {
    const userId = await this.subjects.resolveSubject(request.subject, request.subjectIssuers);
    if (userId === undefined) return { kind: "unknown_subject" };
    const issuer: Principal = { name: request.issuer, permissions: new Set(["session.delete"]) };
    const progress = await this.endAll.run(
      issuer,
      // The same token gives the same request id: a retry after a failure resumes its operation rather than starting another.
      { userId, reason: request.reason.slice(0, MAX_REASON), requestId: derivedRequestId(this.requestIdKey, "inbound", request.issuer, request.jti), providers: [], providerUserIds: {} },
      { deadline: Date.now() + FIRST_ROUND_MS, initiatingEntity: "policy" },
    );
    return { kind: "started", progress, unable: progress.operation.done && nothingEnded(progress.items) };
  }
}

/** Every provider's work failed somewhere, and no session was ended anywhere. */
function nothingEnded(items: readonly WorkItem[]): boolean {
  const providers = new Set(items.map((i) => i.provider));
  const failed = new Set(items.filter((i) => i.state === "failed").map((i) => i.provider));
  return providers.size > 0 && failed.size === providers.size && !items.some((i) => i.kind === "end" && i.state !== "failed");
}
