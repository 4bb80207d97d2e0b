import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { SessionSchema, type Session } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { ChangeDetails, SessionRecord } from "../store/store.js";

/** A stored session as the API shows it: everything but the token hash. */
export function sessionMessage(r: SessionRecord): Session {
  return create(SessionSchema, {
    id: r.id,
    userId: r.userId,
    resourceOwner: r.resourceOwner,
    creationDate: timestampFromDate(r.creationDate),
    changeDate: timestampFromDate(r.changeDate),
    sequence: r.sequence,
    ...(r.expirationDate ? { expirationDate: timestampFromDate(r.expirationDate) } : {}),
    metadata: r.metadata,
    ...(r.termination
      ? {
          termination: {
            terminateDate: timestampFromDate(r.termination.date),
            terminatedBy: r.termination.by,
            reason: r.termination.reason,
            requestId: r.termination.requestId,
          },
        }
      : {}),
  });
}

/** Details of a change as sessioncontrol.v1.Details, which is zitadel.object.v2.Details under another name. */
export function detailsMessage(d: ChangeDetails): { sequence: bigint; resourceOwner: string; changeDate?: Timestamp; creationDate?: Timestamp } {
  return {
    sequence: d.sequence,
    resourceOwner: d.resourceOwner,
    ...(d.changeDate && { changeDate: timestampFromDate(d.changeDate) }),
    ...(d.creationDate && { creationDate: timestampFromDate(d.creationDate) }),
  };
}
