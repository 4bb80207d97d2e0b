import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/** Provider type `local`: the embedded store's answers. */
export const localTable: MappingTable = [
  { when: { code: "not_found" }, answer: "no such session (told only to callers with session.delete)", code: Code.NotFound, reason: "SESSION_NOT_FOUND" },
  { when: { code: "denied" }, answer: "a wrong token; or no token, not the caller's own session, no session.delete", code: Code.PermissionDenied, reason: "PERMISSION_DENIED" },
];
