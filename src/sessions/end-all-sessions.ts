import { randomUUID } from "node:crypto";
import { requirePermission, type Principal } from "../auth/principal.js";
import type { StepUp } from "../auth/step-up.js";
import { Failure, invalidArgument, type FieldViolation } from "../status/failure.js";
import type { OperationRecord, OperationStore, WorkItem } from "../store/operation-types.js";
import { encodePageToken, pageCursor, pageSize, type Page } from "../store/page-token.js";
import type { CallContext } from "./end-session.js";
import type { FanOut } from "./fan-out.js";
import { initiatingEntity } from "./initiating-entity.js";
import type { UserLinks } from "./user-links.js";
import { checkLength, checkRequestId } from "./validate.js";

export interface EndAllInput {
  userId: string;
  reason: string;
  requestId: string;
  /** Only these providers; empty: every configured one. */
  providers: readonly string[];
  /** The user's id in a provider, where it differs from userId. */
  providerUserIds: Readonly<Record<string, string>>;
}

/** An operation with its work: what sign-out-everywhere has done so far. */
export interface OperationProgress {
  operation: OperationRecord;
  items: WorkItem[];
}

/** How long an operation's work may go on before its answer is due when the caller set no deadline. */
const NO_DEADLINE_WAIT_MS = 10_000;

/** Time kept back from the caller's deadline to write the answer: a quarter of it, from 100 ms to 1 s, so a loaded host still answers in time. */
function answerMarginMs(timeoutMs: number): number {
  return Math.min(Math.max(timeoutMs / 4, 100), 1_000);
}

/** Sign out everywhere: one operation per request, its work run at once and retried in the background. */
export class EndAllSessions {
  constructor(
    private readonly operations: Pick<OperationStore, "getOperation">,
    private readonly fanOut: FanOut,
    private readonly stepUp: StepUp,
    private readonly providerNames: readonly string[],
    private readonly maxAgeMs: number,
    private readonly links: Pick<UserLinks, "providerUserIds">,
  ) {}

  async run(caller: Principal, input: EndAllInput, call: Pick<CallContext, "deadline" | "twoFactorCode" | "initiatingEntity">): Promise<OperationProgress> {
    requirePermission(caller, "session.delete");
    const violations: FieldViolation[] = [];
    checkLength(violations, "user_id", input.userId, { required: true });
    checkLength(violations, "reason", input.reason, { required: false, max: 1000 });
    checkRequestId(violations, input.requestId);
    const unknown = [...input.providers, ...Object.keys(input.providerUserIds)].filter((p) => !this.providerNames.includes(p));
    for (const name of new Set(unknown)) violations.push({ field: "providers", description: `unknown provider "${name}"; configured: ${this.providerNames.join(", ")}` });
    for (const [p, id] of Object.entries(input.providerUserIds)) checkLength(violations, `provider_user_ids[${JSON.stringify(p)}]`, id, { required: true });
    if (violations.length > 0) throw invalidArgument(violations);
    // After validation, so that a refused request does not use up the caller's code.
    await this.stepUp.verify(caller, call.twoFactorCode);
    const providers = input.providers.length > 0 ? [...new Set(input.providers)] : this.providerNames;
    const linked = await this.links.providerUserIds(input.userId);
    const timeoutMs = call.deadline === undefined ? undefined : call.deadline - Date.now();
    const operation = await this.fanOut.run(
      {
        userId: input.userId,
        reason: input.reason,
        requestId: input.requestId || randomUUID(),
        principal: caller.name,
        expiresAt: new Date(Date.now() + this.maxAgeMs),
        initiatingEntity: initiatingEntity(caller, input.userId, undefined, call.initiatingEntity),
        // The id the request gives, else the linked one, else the user's own.
        providers: providers.map((provider) => ({ provider, providerUserId: input.providerUserIds[provider] || linked[provider] || input.userId })),
      },
      Date.now() + (timeoutMs === undefined ? NO_DEADLINE_WAIT_MS : Math.max(0, timeoutMs - answerMarginMs(timeoutMs))),
    );
    // A known request id returns its operation, but never one for another user (as Terminate refuses one used for another session).
    if (operation.userId !== input.userId) throw invalidArgument([{ field: "request_id", description: "was already used for another user" }]);
    const progress = await this.operations.getOperation(operation.id);
    if (!progress) throw new Failure("INTERNAL", "OPERATION_LOST", "the operation was recorded but cannot be read back");
    return progress;
  }
}

/** Reading operations: needs session.read. */
export class Operations {
  constructor(private readonly operations: Pick<OperationStore, "getOperation" | "listOperations">) {}

  async get(caller: Principal, id: string): Promise<OperationProgress> {
    requirePermission(caller, "session.read");
    const found = id ? await this.operations.getOperation(id) : undefined;
    if (!found) throw new Failure("NOT_FOUND", "OPERATION_NOT_FOUND", "operation not found");
    return found;
  }

  /** Newest first, a page at a time. */
  async list(caller: Principal, query: { userId: string; pageSize: number; pageToken: string }): Promise<Page<OperationProgress>> {
    requirePermission(caller, "session.read");
    const beforeId = pageCursor(query.pageToken, query.userId);
    const limit = pageSize(query.pageSize);
    const rows = await this.operations.listOperations({ limit: limit + 1, ...(query.userId && { userId: query.userId }), ...(beforeId && { beforeId }) });
    const shown = rows.slice(0, limit);
    return {
      items: await Promise.all(shown.map(async (operation) => ({ operation, items: (await this.operations.getOperation(operation.id))?.items ?? [] }))),
      nextPageToken: rows.length > limit ? encodePageToken(query.userId, shown[shown.length - 1]!.id) : "",
    };
  }
}
