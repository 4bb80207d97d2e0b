import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type DetailsSchema, TerminateResponseSchema, type TerminateResponse } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Principal } from "../auth/principal.js";
import { ProviderFailure, type ChangeDetails, type Provider } from "../providers/provider.js";
import { invalidArgument, type FieldViolation } from "../status/errors.js";
import { mapFailure } from "../status/map.js";
import { checkLength } from "./validate.js";

export interface TerminateInput {
  sessionId: string;
  sessionToken?: string | undefined;
  provider?: string;
  requestId?: string;
  userId?: string;
  reason?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ending one session: shared by SessionControl.Terminate, Zitadel's DeleteSession and REST. */
export class TerminateAction {
  private readonly byName: ReadonlyMap<string, Provider>;

  constructor(
    providers: Provider[],
    private readonly defaultProvider: string,
  ) {
    this.byName = new Map(providers.map((p) => [p.name, p]));
  }

  async run(caller: Principal, input: TerminateInput, signal: AbortSignal): Promise<TerminateResponse> {
    const violations: FieldViolation[] = [];
    checkLength(violations, "session_id", input.sessionId, { required: true });
    checkLength(violations, "session_token", input.sessionToken ?? "", { required: false, max: 1000 });
    checkLength(violations, "user_id", input.userId ?? "", { required: false });
    checkLength(violations, "reason", input.reason ?? "", { required: false, max: 1000 });
    if (input.requestId && !UUID.test(input.requestId)) violations.push({ field: "request_id", description: "must be a UUID" });
    const provider = this.byName.get(input.provider || this.defaultProvider);
    if (!provider) {
      const names = [...this.byName.keys()].join(", ");
      violations.push({ field: "provider", description: `unknown provider "${input.provider}"; configured: ${names}` });
    }
    if (violations.length > 0 || !provider) throw invalidArgument(violations);
    try {
      const result = await provider.terminate({
        caller,
        sessionId: input.sessionId,
        ...(input.sessionToken ? { sessionToken: input.sessionToken } : {}),
        userId: input.userId ?? "",
        reason: input.reason ?? "",
        requestId: input.requestId || randomUUID(),
        options: {},
        signal,
      });
      return create(TerminateResponseSchema, {
        details: detailsMessage(result.details),
        provider: provider.name,
        alreadyTerminated: result.alreadyTerminated,
      });
    } catch (err) {
      throw err instanceof ProviderFailure ? mapFailure(err, provider.table) : err;
    }
  }
}

export function detailsMessage(d: ChangeDetails): MessageInitShape<typeof DetailsSchema> {
  return {
    sequence: d.sequence,
    ...(d.changeDate ? { changeDate: timestampFromDate(d.changeDate) } : {}),
    resourceOwner: d.resourceOwner,
    ...(d.creationDate ? { creationDate: timestampFromDate(d.creationDate) } : {}),
  };
}
