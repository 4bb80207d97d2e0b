/** gRPC status code names, as the audit trail keeps them (Connect's spelling: CANCELED). */
export type CodeName =
  | "CANCELED"
  | "UNKNOWN"
  | "INVALID_ARGUMENT"
  | "DEADLINE_EXCEEDED"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "PERMISSION_DENIED"
  | "RESOURCE_EXHAUSTED"
  | "FAILED_PRECONDITION"
  | "ABORTED"
  | "OUT_OF_RANGE"
  | "UNIMPLEMENTED"
  | "INTERNAL"
  | "UNAVAILABLE"
  | "DATA_LOSS"
  | "UNAUTHENTICATED";

/** ErrorInfo domain of the failures this service raises itself. */
export const SERVICE_DOMAIN = "session-control";

export interface FieldViolation {
  field: string;
  description: string;
}

export interface FailureOptions {
  /** ErrorInfo domain: this service, or the provider whose answer it is. */
  domain?: string;
  /** Whether the same request may succeed later (RetryInfo). */
  retryable?: boolean;
  /** RetryInfo's delay, when `retryable`. */
  retryAfterMs?: number;
  /** ErrorInfo metadata. */
  metadata?: Record<string, string>;
  /** BadRequest field violations. */
  violations?: readonly FieldViolation[];
}

/**
 * A request the service could not carry out, in the domain's terms: a status code, a reason, a
 * message for the caller, and the details the edges (src/api/connect-error.ts) turn into
 * ErrorInfo, RetryInfo and BadRequest.
 */
export class Failure extends Error {
  readonly domain: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  readonly violations: readonly FieldViolation[];

  constructor(
    readonly code: CodeName,
    readonly reason: string,
    message: string,
    options: FailureOptions = {},
  ) {
    super(message);
    this.name = "Failure";
    this.domain = options.domain ?? SERVICE_DOMAIN;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.metadata = options.metadata ?? {};
    this.violations = options.violations ?? [];
  }
}

/** INVALID_ARGUMENT naming every offending field. */
export function invalidArgument(violations: readonly FieldViolation[]): Failure {
  const message = violations.map((v) => `${v.field}: ${v.description}`).join("; ");
  return new Failure("INVALID_ARGUMENT", "INVALID_ARGUMENT", message, { violations });
}

/** RESOURCE_EXHAUSTED of a limit on guessing, with the time left in the window. */
export function tooManyAttempts(reason: string, message: string, retryAfterMs: number): Failure {
  return new Failure("RESOURCE_EXHAUSTED", reason, message, { retryable: true, retryAfterMs: Math.max(0, Math.ceil(retryAfterMs)) });
}

/** PERMISSION_DENIED with its usual reason. */
export function permissionDenied(message: string): Failure {
  return new Failure("PERMISSION_DENIED", "PERMISSION_DENIED", message);
}
