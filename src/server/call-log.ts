import { ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { Failure } from "../status/failure.js";
import { codeName } from "../status/code-names.js";
import { asConnectError } from "./call-error.js";

/** One line per call: filled in by the interceptor, written when the HTTP exchange ends. */
export interface CallRecord {
  start: bigint;
  procedure: string;
  code?: string;
  principal?: string;
}

export const callRecordKey = createContextKey<CallRecord | undefined>(undefined, { description: "call log record" });

/**
 * Records code and principal of each call; turns domain failures into their status, unexpected
 * exceptions into INTERNAL without their text. A stream's code is how it ended, not how it began.
 */
export function callLogInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const record = req.contextValues.get(callRecordKey);
    const failed = (err: unknown): ConnectError => {
      const ce = callError(log, req.url, err);
      if (record) record.code = codeName(ce.code);
      return ce;
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      throw failed(err);
    }
    if (!res.stream) {
      if (record) record.code = "OK";
      return res;
    }
    return { ...res, message: recordedEnd(res.message, failed, () => record && (record.code = "OK")) };
  };
}

/** The messages of a stream; its end, or the error it fails with, recorded on the way. */
async function* recordedEnd<T>(messages: AsyncIterable<T>, failed: (err: unknown) => ConnectError, ended: () => void): AsyncGenerator<T> {
  try {
    yield* messages;
  } catch (err) {
    throw failed(err);
  }
  ended();
}

function callError(log: Logger, procedure: string, err: unknown): ConnectError {
  // A call's signal aborted without a ConnectError for a reason (a stream closed without an error code): CANCELED.
  if (err instanceof Error && err.name === "AbortError") return ConnectError.from(err);
  if (!(err instanceof Failure || err instanceof ConnectError)) log.error({ procedure, err }, "unexpected error in handler");
  return asConnectError(err);
}

/**
 * The logger for call lines: the service's own without its redaction. With wildcard redaction
 * paths pino runs a redactor on every field of every line, which made the call line the
 * service's largest allocation per call (bench/PROFILE.md). A call line holds only the
 * procedure, the code, the duration and the key's name, so there is nothing to redact.
 */
export function callLineLogger(log: Logger): Logger {
  return log.child({}, { redact: [] });
}

/**
 * Writes the call's line (to a callLineLogger) and returns its code. Without a code from the handler, the caller left
 * before the answer (`finished` false) or the call never reached a handler (its HTTP status says).
 */
export function writeCallLine(log: Logger, record: CallRecord, httpStatus: number, finished: boolean): string {
  const code = record.code ?? (finished ? `http_${httpStatus}` : "CANCELED");
  const durationMs = Number(process.hrtime.bigint() - record.start) / 1e6;
  log.info(
    {
      procedure: record.procedure,
      code,
      duration_ms: Math.round(durationMs * 1000) / 1000,
      principal: record.principal ?? "-",
    },
    "call",
  );
  return code;
}
