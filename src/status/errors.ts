import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequest_FieldViolationSchema, BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { CodeName, Failure } from "./failure.js";

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
  return new ConnectError(message, Code.ResourceExhausted, undefined, [errorInfo(reason, SERVICE_DOMAIN), retryInfo(retryAfterMs)]);
}

/**
 * A Failure as a ConnectError: BadRequest when it names fields, ErrorInfo, and RetryInfo when a
 * retry can mend it. (The edge's own converter, src/api/connect-error.ts, takes this over.)
 */
export function connectErrorOf(failure: Failure): ConnectError {
  const badRequest = failure.violations.length > 0 ? [{ desc: BadRequestSchema, value: { fieldViolations: failure.violations.map((v) => create(BadRequest_FieldViolationSchema, v)) } }] : [];
  const retry = failure.retryable ? [retryInfo(failure.retryAfterMs ?? 0)] : [];
  return new ConnectError(failure.message, codeFromName(failure.code), undefined, [...badRequest, errorInfo(failure.reason, failure.domain, { ...failure.metadata }), ...retry]);
}

function retryInfo(retryAfterMs: number) {
  const ms = Math.max(0, Math.ceil(retryAfterMs));
  return { desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 } } };
}

export function errorInfo(reason: string, domain: string, metadata: Record<string, string> = {}) {
  return { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { reason, domain, metadata }) };
}

/** Code.PermissionDenied -> "PERMISSION_DENIED", the name gRPC uses. */
export function codeName(code: Code): CodeName {
  return (Code[code] ?? String(code)).replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase() as CodeName;
}

/** "PERMISSION_DENIED" -> Code.PermissionDenied; UNKNOWN for a name that is no code. */
export function codeFromName(name: string): Code {
  return (Object.values(Code).find((c) => typeof c === "number" && codeName(c) === name) as Code | undefined) ?? Code.Unknown;
}
