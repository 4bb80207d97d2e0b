import type { FieldViolation } from "../status/failure.js";

export const MAX_ID_LENGTH = 200;

/** Appends a violation when `value` is not 1..max characters (or 0..max when optional). */
export function checkLength(violations: FieldViolation[], field: string, value: string, opts: { required: boolean; max?: number }): void {
  const max = opts.max ?? MAX_ID_LENGTH;
  const length = [...value].length;
  if (opts.required && length === 0) violations.push({ field, description: "is required" });
  else if (length > max) violations.push({ field, description: `must be at most ${max} characters, got ${length}` });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Appends a violation when an idempotency key is given and is not a UUID. */
export function checkRequestId(violations: FieldViolation[], requestId: string | undefined): void {
  if (requestId && !UUID.test(requestId)) violations.push({ field: "request_id", description: "must be a UUID" });
}
