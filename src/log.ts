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

export function createLogger(level: LevelWithSilent, destination?: pino.DestinationStream): Logger {
  const options = { level, base: { service: "session-control" }, redact: { paths: REDACT, censor: "[redacted]" } };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
