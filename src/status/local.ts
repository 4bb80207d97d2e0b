import { Code } from "@connectrpc/connect";
import type { MappingTable } from "./table.js";

/** Provider type `local`: the embedded store's answers. */
export const localTable: MappingTable = [
  { upstream: "not_found", code: Code.NotFound, reason: "SESSION_NOT_FOUND", message: "session not found" },
  {
    upstream: "denied",
    code: Code.PermissionDenied,
    reason: "PERMISSION_DENIED",
    message: "not allowed to end this session: present its token, end your own session, or hold session.delete",
  },
  { upstream: "wrong_token", code: Code.PermissionDenied, reason: "SESSION_TOKEN_INVALID", message: "the session token is invalid for this session" },
];
