import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequest_FieldViolationSchema, BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";

/** ErrorInfo domain of the errors this service raises itself. */
export const SERVICE_DOMAIN = "session-control";

export interface FieldViolation {
  field: string;
  description: string;
}

/** INVALID_ARGUMENT with a google.rpc.BadRequest naming every offending field. */
export function invalidArgument(violations: FieldViolation[]): ConnectError {
  const message = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  return new ConnectError(message, Code.InvalidArgument, undefined, [
    { desc: BadRequestSchema, value: { fieldViolations: violations.map((v) => create(BadRequest_FieldViolationSchema, v)) } },
    errorInfo("INVALID_ARGUMENT", SERVICE_DOMAIN),
  ]);
}

/** An error of this service's own with a google.rpc.ErrorInfo. */
export function serviceError(code: Code, reason: string, message: string): ConnectError {
  return new ConnectError(message, code, undefined, [errorInfo(reason, SERVICE_DOMAIN)]);
}

/** RESOURCE_EXHAUSTED of a limit on guessing: an ErrorInfo and a google.rpc.RetryInfo with the time left in the window. */
export function tooManyAttempts(reason: string, message: string, retryAfterMs: number): ConnectError {
  const ms = Math.max(0, Math.ceil(retryAfterMs));
  const retryDelay = { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
  return new ConnectError(message, Code.ResourceExhausted, undefined, [errorInfo(reason, SERVICE_DOMAIN), { desc: RetryInfoSchema, value: { retryDelay } }]);
}

export function errorInfo(reason: string, domain: string, metadata: Record<string, string> = {}) {
  return { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain, metadata }) };
}

/** Code.PermissionDenied -> "PERMISSION_DENIED", the name gRPC uses. */
export function codeName(code: Code): string {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** "PERMISSION_DENIED" -> Code.PermissionDenied; UNKNOWN for a name that is no code. */
export function codeFromName(name: string): Code {
  return (Object.values(Code).find((c) => typeof c === "number" && codeName(c) === name) as Code | undefined) ?? Code.Unknown;
}
