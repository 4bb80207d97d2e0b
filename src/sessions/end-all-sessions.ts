import { randomUUID } from "node:crypto";
import { requirePermission, type Principal } from "../auth/principal.js";
import type { StepUp } from "../auth/step-up.js";
import { Failure, invalidArgument, type FieldViolation } from "../status/failure.js";
import type { OperationRecord, OperationStore, WorkItem } from "../store/operation-types.js";
import { encodePageToken, pageCursor, pageSize, type Page } from "../store/page-token.js";
import type { CallContext } from "./end-session.js";
import type { FanOut } from "./fan-out.js";
import { initiatingEntity } from "./initiating-entity.js";
import { answerMarginMs, checkProviderChoice, providerUsers, type UserProvidersInput } from "./user-providers.js";
import type { UserLinks } from "./user-links.js";
import { checkLength, checkRequestId } from "./validate.js";

export interface EndAllInput extends UserProvidersInput {
  reason: string;
  requestId: string;
}

/** An operation with its work: what sign-out-everywhere has done so far. */
export interface OperationProgress {
  operation: OperationRecord;
  items: WorkItem[];
}

/** How long an operation's work may go on before its answer is due when the caller set no deadline. */
const NO_DEADLINE_WAIT_MS = 10_000;

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
    checkProviderChoice(violations, input, this.providerNames);
    if (violations.length > 0) throw invalidArgument(violations);
    // After validation, so that a refused request does not use up the caller's code.
    await this.stepUp.verify(caller, call.twoFactorCode);
    const providers = await providerUsers(input, this.providerNames, this.links);
    const timeoutMs = call.deadline === undefined ? undefined : call.deadline - Date.now();
    const operation = await this.fanOut.run(
      {
        userId: input.userId,
        reason: input.reason,
        requestId: input.requestId || randomUUID(),
        principal: caller.name,
        expiresAt: new Date(Date.now() + this.maxAgeMs),
        initiatingEntity: initiatingEntity(caller, input.userId, undefined, call.initiatingEntity),
        providers,
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
