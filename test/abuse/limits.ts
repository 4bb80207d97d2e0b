import { configSchema } from "../../src/config/schema.js";

/**
 * The production defaults the attacks are sized against. Read from the configuration schema
 * (what the server applies when the file does not set a key); a key the schema does not
 * know yet falls back to the default agreed for it (issue 8), so that the suite runs, and
 * fails the right attacks, on a server without that bound.
 */
export interface Limits {
  readMaxBytes: number;
  maxConnections: number;
  maxConcurrentStreams: number;
  maxBufferedBytes: number;
  headerTimeoutMs: number;
  bodyTimeoutMs: number;
  idleTimeoutMs: number;
  failedAuthPerAddress: number;
  wrongTokensPerSession: number;
  /** The guessing limits' window: a run longer than it may see the limit again, fresh. */
  guessWindowMs: number;
  /** The keys the schema knows, with their defaults, for the config file of the server under attack. */
  known: { server: Record<string, number>; limits: Record<string, number> };
}

const AGREED_SERVER = {
  read_max_bytes: 4 * 1024 * 1024,
  max_connections: 1000,
  max_concurrent_streams: 100,
  max_buffered_bytes: 32 * 1024 * 1024,
  header_timeout_ms: 10_000,
  body_timeout_ms: 30_000,
  idle_timeout_ms: 60_000,
};
const AGREED_LIMITS = { failed_auth_per_address: 30, wrong_tokens_per_session: 10, window_ms: 60_000 };

export function productionLimits(): Limits {
  const defaults = configSchema.parse({}) as unknown as Record<string, Record<string, unknown> | undefined>;
  const known = { server: pick(defaults["server"], AGREED_SERVER), limits: pick(defaults["limits"], AGREED_LIMITS) };
  const server = { ...AGREED_SERVER, ...known.server };
  const limits = { ...AGREED_LIMITS, ...known.limits };
  return {
    readMaxBytes: server.read_max_bytes,
    maxConnections: server.max_connections,
    maxConcurrentStreams: server.max_concurrent_streams,
    maxBufferedBytes: server.max_buffered_bytes,
    headerTimeoutMs: server.header_timeout_ms,
    bodyTimeoutMs: server.body_timeout_ms,
    idleTimeoutMs: server.idle_timeout_ms,
    failedAuthPerAddress: limits.failed_auth_per_address,
    wrongTokensPerSession: limits.wrong_tokens_per_session,
    guessWindowMs: limits.window_ms,
    known,
  };
}

/** The numeric keys of `agreed` that the parsed section has, with the parsed values. */
function pick(section: Record<string, unknown> | undefined, agreed: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(agreed).flatMap((k) => (typeof section?.[k] === "number" ? [[k, section[k]]] : [])));
}

/** Which agreed bounds the schema does not know (the server under attack runs without them). */
export function missingBounds(l: Limits): string[] {
  return [...Object.keys(AGREED_SERVER).filter((k) => !(k in l.known.server)), ...Object.keys(AGREED_LIMITS).filter((k) => !(k in l.known.limits)).map((k) => `limits.${k}`)];
}
