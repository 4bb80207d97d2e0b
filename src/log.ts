import { pino, type Logger, type LevelWithSilent } from "pino";

/** Paths whose values never reach a log line, whatever a caller logs by mistake. */
const REDACT = [
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "key",
  "*.key",
  "token",
  "*.token",
  "session_token",
  "*.session_token",
  "sessionToken",
  "*.sessionToken",
  "secret",
  "*.secret",
];

/**
 * JSON lines to `destination`, or to stdout written asynchronously: lines written while a
 * write is in flight go out together, so a line per call does not block the event loop.
 * Call `log.flush()` before exiting.
 */
export function createLogger(level: LevelWithSilent, destination?: pino.DestinationStream): Logger {
  const options = { level, base: { service: "session-control" }, redact: { paths: REDACT, censor: "[redacted]" } };
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}

export type { Logger };
