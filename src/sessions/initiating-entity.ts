import { hasPermission, type Principal } from "../auth/principal.js";
import type { InitiatingEntity } from "../store/outbox-types.js";

/**
 * Who started an end, as CAEP's `initiating_entity` says it: `user` when the session's own token
 * (presented by a caller without session.delete) or the caller's own user id ended it, `admin` for
 * a caller with session.delete, `system` otherwise. `given` wins: background work carries its
 * operation's, an inbound standard's request `policy`.
 */
export function initiatingEntity(caller: Principal, userId: string, sessionToken: string | undefined, given: InitiatingEntity | undefined): InitiatingEntity {
  if (given) return given;
  const mayDelete = hasPermission(caller, "session.delete");
  if ((sessionToken && !mayDelete) || (userId !== "" && caller.userId === userId)) return "user";
  return mayDelete ? "admin" : "system";
}
