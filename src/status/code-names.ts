import { Code } from "@connectrpc/connect";
import type { CodeName } from "./failure.js";

/** Code.PermissionDenied -> "PERMISSION_DENIED", the name gRPC uses. */
export function codeName(code: Code): CodeName {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase() as CodeName;
}

/** "PERMISSION_DENIED" -> Code.PermissionDenied; UNKNOWN for a name that is no code. */
export function codeFromName(name: string): Code {
  return (Object.values(Code).find((c) => typeof c === "number" && codeName(c) === name) as Code | undefined) ?? Code.Unknown;
}
