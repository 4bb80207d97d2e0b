import { z } from "zod";

/** Where an upstream serves its API: an http or https URL. */
export const baseUrl = z.url({ protocol: /^https?$/ });

/** The id the upstream knows our account by: a partner id, user id or OAuth client id. */
export const accountId = z.string().min(1).max(200);

/** Settings every `providers:` entry has: its name, and how hard to try its upstream. */
export const providerCommon = {
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "must be 1 to 63 characters: lowercase letters, digits, '.', '_' or '-'"),
  /** Longest time one upstream attempt may take (never longer than the caller's deadline). */
  timeout_ms: z.number().int().min(1).max(120_000).default(5_000),
  /** Attempts in all for answers that a retry can help, the first included. */
  max_attempts: z.number().int().min(1).max(10).default(3),
  initial_backoff_ms: z.number().int().min(1).max(60_000).default(100),
  max_backoff_ms: z.number().int().min(1).max(300_000).default(2_000),
  /** Consecutive failed calls that open the circuit breaker. */
  breaker_failures: z.number().int().min(1).max(1000).default(5),
  /** How long the open breaker fails fast before it lets a probe call through. */
  breaker_half_open_after_ms: z.number().int().min(10).max(3_600_000).default(10_000),
  /** Most keep-alive connections kept open to the upstream. */
  max_connections: z.number().int().min(1).max(256).default(8),
};

/** One `providers:` entry: the common settings, and the type's own. */
export type ProviderConfig = z.output<z.ZodObject<typeof providerCommon>> & { type: string } & Record<string, unknown>;
