import { Code, ConnectError, createContextKey, type Interceptor } from "@connectrpc/connect";
import type { Logger } from "pino";
import { principalKey } from "../api/principal-context.js";
import { codeName } from "../status/errors.js";

/** One line per call: filled in by the interceptor, written when the HTTP exchange ends. */
export interface CallRecord {
  start: bigint;
  procedure: string;
  code?: string;
  principal?: string;
}

export const callRecordKey = createContextKey<CallRecord | undefined>(undefined, { description: "call log record" });

/** Records code and principal of each call; turns unexpected exceptions into INTERNAL without their text. */
export function callLogInterceptor(log: Logger): Interceptor {
  return (next) => async (req) => {
    const record = req.contextValues.get(callRecordKey);
    try {
      const res = await next(req);
      if (record) record.code = "OK";
      return res;
    } catch (err) {
      const ce = err instanceof ConnectError ? err : internal(log, req.url, err);
      if (record) record.code = codeName(ce.code);
      throw ce;
    } finally {
      if (record) record.principal = req.contextValues.get(principalKey)?.name;
    }
  };
}

function internal(log: Logger, procedure: string, err: unknown): ConnectError {
  log.error({ procedure, err }, "unexpected error in handler");
  return new ConnectError("internal error", Code.Internal);
}

/** Writes the call's line and returns its code; `httpStatus` speaks for calls that never reached a handler. */
export function writeCallLine(log: Logger, record: CallRecord, httpStatus: number): string {
  const code = record.code ?? `http_${httpStatus}`;
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
