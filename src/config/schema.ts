import { z } from "zod";
import { PERMISSIONS } from "../auth/principal.js";

const apiKey = z.strictObject({
  name: z.string().min(1).max(100),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "must be the key's SHA-256 as 64 hexadecimal characters"),
  user_id: z.string().min(1).max(200).optional(),
  permissions: z.array(z.enum(PERMISSIONS)).default([]),
});

const tls = z.strictObject({
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
});

const server = z.strictObject({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(8080),
  tls: tls.optional(),
  /** Largest request message accepted, in bytes. */
  read_max_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Longest deadline a caller may ask for; calls with no deadline get this one. */
  max_timeout_ms: z.number().int().min(100).max(3_600_000).default(60_000),
  /** How long in-flight calls may run on after SIGTERM before connections are cut. */
  shutdown_grace_ms: z.number().int().min(0).max(60_000).default(4_000),
  /** Browser origins allowed to call (CORS); "*" allows any. */
  cors_allowed_origins: z.array(z.string().min(1)).default(["*"]),
});

export const configSchema = z.strictObject({
  server: server.prefault({}),
  data_dir: z.string().min(1).default("./data"),
  log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  api_keys: z
    .array(apiKey)
    .optional()
    .refine((keys) => !keys || new Set(keys.map((k) => k.sha256.toLowerCase())).size === keys.length, "two keys have the same sha256"),
});

export type Config = z.infer<typeof configSchema>;
