import { z } from "zod";
import { PERMISSIONS } from "../auth/principal.js";
import { base32Decode } from "../auth/totp.js";
import type { ProviderConfig } from "../providers/provider-settings.js";
import { providerEntry } from "../providers/registry.js";
import { secretRef } from "./secret.js";
import { gtrConfig, ssfConfig } from "./inbound.js";
import { auth } from "./jwt-issuers.js";
import { httpUrl } from "./token-issuer.js";

const apiKey = z.strictObject({
  /** No "#": JWT callers are named <issuer>#<claim> (src/auth/jwt-callers.ts), so no key shares a JWT caller's name. */
  name: z.string().min(1).max(100).refine((n) => !n.includes("#"), 'must not contain "#" (JWT callers are named <issuer>#<claim>)'),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "must be the key's SHA-256 as 64 hexadecimal characters"),
  user_id: z.string().min(1).max(200).optional(),
  permissions: z.array(z.enum(PERMISSIONS)).default([]),
  /** Base32 TOTP secret: TerminateUser then needs the current code in x-2fa-code. */
  totp_secret: secretRef.refine((s) => base32Decode(s.reveal()) !== undefined, "must be a base32 TOTP secret").optional(),
});

const tls = z.strictObject({
  cert_file: z.string().min(1),
  key_file: z.string().min(1),
});

/** "*" or an origin as browsers send it: scheme://host[:port], no path. "null" is refused: any sandboxed frame can send it. */
const corsOrigin = z
  .string()
  .refine((o) => o !== "null", "the origin null is never allowed: any sandboxed frame or file: page sends it")
  .refine((o) => o === "null" || o === "*" || /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]+$/i.test(o), 'must be "*" or an origin such as https://app.example (scheme://host[:port], no path)');

const server = z.strictObject({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(8080),
  tls: tls.optional(),
  /** Largest request message accepted, in bytes. */
  read_max_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Longest deadline a caller may ask for; longer ones are capped to it. */
  max_timeout_ms: z.number().int().min(100).max(3_600_000).default(60_000),
  /** How long in-flight calls may run on after SIGTERM before connections are cut. */
  shutdown_grace_ms: z.number().int().min(0).max(60_000).default(4_000),
  /** TCP connections open at once (HTTP/1.1, HTTP/2 and TLS alike); past it new ones are closed at once. */
  max_connections: z.number().int().min(1).max(1_000_000).default(1000),
  /** HTTP/2 streams open at once on one connection (advertised in SETTINGS). */
  max_concurrent_streams: z.number().int().min(1).max(10_000).default(100),
  /** Request body bytes held in memory across all calls; past it new calls get RESOURCE_EXHAUSTED. */
  max_buffered_bytes: z.number().int().min(64 * 1024).max(16 * 1024 * 1024 * 1024).default(32 * 1024 * 1024),
  /** Time to receive a request's headers (HTTP/1.1), or from connecting to the first request (HTTP/2). */
  header_timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
  /** Time to receive a request's whole body once its headers are in, on HTTP/1.1 and HTTP/2. */
  body_timeout_ms: z.number().int().min(100).max(3_600_000).default(30_000),
  /** A connection with no request in flight for this long is closed (GOAWAY on HTTP/2). */
  idle_timeout_ms: z.number().int().min(100).max(3_600_000).default(60_000),
  /** Browser origins allowed to call (CORS); none by default; "*" allows any (never the origin null). */
  cors_allowed_origins: z.array(corsOrigin).default([]),
});

/** `host:port` (an IPv6 host in brackets), as { host, port }. */
const hostPort = z.string().transform((text, ctx) => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port > 65535) {
    ctx.addIssue({ code: "custom", message: 'must be "host:port", e.g. "127.0.0.1:9464"' });
    return z.NEVER;
  }
  return { host: (m[1] ?? m[2])!, port };
});

/** Where /metrics is served: with neither key, nowhere. */
const metrics = z.strictObject({
  /** `env:`/`file:` reference: /metrics then needs `Authorization: Bearer <token>`. */
  bearer_token: secretRef.optional(),
  /** Serve /metrics on its own plain HTTP server at this address, and not on the main port. */
  listen: hostPort.optional(),
});

/** Where ended sessions are announced: an SSF receiver (RFC 8935 push) or a Standard Webhooks endpoint. */
const receiver = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, "must be 1 to 100 letters, digits, '.', '_' or '-'"),
    kind: z.enum(["ssf", "webhook"]),
    endpoint: httpUrl,
    /** SSF: the SET's `aud`; default the endpoint's origin. */
    audience: z.string().min(1).max(1000).optional(),
    /** `env:`/`file:` reference: sent as the Authorization header's value. */
    authorization: secretRef.optional(),
    /** Webhook: the Standard Webhooks secret (whsec_...), by reference. */
    secret: secretRef.refine((s) => /^whsec_[A-Za-z0-9+/=]{16,}$/.test(s.reveal()), "must be a Standard Webhooks secret: whsec_ followed by base64").optional(),
    /** SSF: `complex` (user, session, tenant) or `opaque` (the user id). */
    subject_format: z.enum(["complex", "opaque"]).default("complex"),
    /** Deliveries are retried until this age, then given up. */
    max_age_ms: z.number().int().min(1000).max(30 * 24 * 3_600_000).default(24 * 3_600_000),
  })
  .superRefine((r, ctx) => {
    if (r.kind === "webhook" && !r.secret) ctx.addIssue({ code: "custom", path: ["secret"], message: "a webhook receiver needs its whsec_ secret (env: or file: reference)" });
    if (r.kind === "ssf" && r.secret) ctx.addIssue({ code: "custom", path: ["secret"], message: "only webhook receivers take a secret; an SSF receiver verifies SETs against /jwks.json" });
    if (r.kind === "webhook" && r.audience) ctx.addIssue({ code: "custom", path: ["audience"], message: "only SSF receivers take an audience" });
  });

const notifications = z.strictObject({
  receivers: z
    .array(receiver)
    .default([])
    .refine((rs) => new Set(rs.map((r) => r.name)).size === rs.length, "two receivers have the same name"),
  /** How often the outbox is looked at for work queued by other replicas (this one's is sent at once). */
  poll_ms: z.number().int().min(10).max(600_000).default(1_000),
  /** How long a replica's claim on a delivery holds; a killed replica's deliveries move on after it. */
  lease_ms: z.number().int().min(100).max(3_600_000).default(60_000),
  /** One delivery's HTTP request may take this long. */
  request_timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
  /** Requests in flight to one receiver at once. */
  concurrency_per_receiver: z.number().int().min(1).max(256).default(4),
  retry_initial_ms: z.number().int().min(10).max(3_600_000).default(1_000),
  retry_max_ms: z.number().int().min(10).max(3_600_000).default(300_000),
  /** After a 401 or 403 (the receiver refuses our credentials), the next try waits this long. */
  misconfigured_retry_ms: z.number().int().min(10).max(24 * 3_600_000).default(600_000),
}).superRefine((n, ctx) => {
  // A lapsed claim lets another replica send a delivery that is still being sent here.
  if (n.lease_ms <= n.request_timeout_ms) ctx.addIssue({ code: "custom", path: ["lease_ms"], message: `must be longer than notifications.request_timeout_ms (${n.request_timeout_ms}), so that no replica takes over a delivery still being sent` });
});

const signing = z.strictObject({
  /** `env:`/`file:` reference to a PEM private key (EC P-256, RSA of 2048 bits or more, Ed25519); default: one generated and kept with the store. */
  key_file: secretRef.optional(),
  /** Keys of an earlier rotation, still published in /jwks.json. */
  previous_key_files: z.array(secretRef).default([]),
});

export const configSchema = z.strictObject({
  /**
   * This service's URL as others reach it: the SET issuer; default http://<server.host>:<server.port>.
   * An origin only: /jwks.json and the SSF endpoints are served at the root of the port.
   */
  public_url: httpUrl.refine((u) => new URL(u).pathname === "/" && !new URL(u).search, "must be an origin (scheme://host[:port]) without a path: /jwks.json and the SSF endpoints are served at the root").optional(),
  signing: signing.prefault({}),
  gtr: gtrConfig.prefault({}),
  ssf: ssfConfig.prefault({}),
  notifications: notifications.prefault({}),
  server: server.prefault({}),
  metrics: metrics.prefault({}),
  /** The operator console, served at /console on the main port from a Vite build. */
  console: z
    .strictObject({
      /** Serve it; false answers /console like any unknown path. */
      enabled: z.boolean().default(true),
      /** The build to serve (index.html and assets/); default dist/console of this installation. */
      dir: z.string().min(1).optional(),
    })
    .prefault({}),
  data_dir: z.string().min(1).default("./data"),
  log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Callers known by a JWT of a trusted issuer, besides API keys. */
  auth: auth.prefault({}),
  api_keys: z
    .array(apiKey)
    .optional()
    .refine((keys) => !keys || new Set(keys.map((k) => k.sha256.toLowerCase())).size === keys.length, "two keys have the same sha256"),
  providers: z
    .array(providerEntry)
    .min(1)
    .prefault([{ name: "local", type: "local" }])
    .transform((entries) => entries as ProviderConfig[])
    .refine((entries) => new Set(entries.map((e) => e.name)).size === entries.length, "two providers have the same name"),
  /** The provider used when a request names none; default: the first one. */
  default_provider: z.string().optional(),
  /** Where sessions, the audit trail and operations are kept: the SQLite file in data_dir, or postgres://... */
  store: z
    .string()
    .regex(/^(sqlite|postgres(ql)?:\/\/.+)$/, "must be sqlite or a postgres:// URL")
    .default("sqlite"),
  operations: z
    .strictObject({
      /** Background retries of a sign-out-everywhere stop after this age. */
      max_age_ms: z.number().int().min(1000).max(30 * 24 * 3_600_000).default(24 * 3_600_000),
      /** How long a worker's claim on work holds; a killed replica's work moves on after it. Keep it above call_timeout_ms, so no other replica repeats a call still running. */
      lease_ms: z.number().int().min(100).max(3_600_000).default(60_000),
      poll_ms: z.number().int().min(10).max(600_000).default(1_000),
      /** Upstream calls at once to one provider: sign-out-everywhere's work and ListUserSessions together. */
      concurrency_per_provider: z.number().int().min(1).max(256).default(8),
      retry_initial_ms: z.number().int().min(10).max(3_600_000).default(1_000),
      retry_max_ms: z.number().int().min(10).max(3_600_000).default(60_000),
      call_timeout_ms: z.number().int().min(100).max(600_000).default(30_000),
      /** How often a WatchOperation stream reads its operation, for the work of other replicas (this process's own is seen at once). */
      watch_poll_ms: z.number().int().min(10).max(60_000).default(100),
      /** WatchOperation streams open at once in this process; past it, RESOURCE_EXHAUSTED. */
      max_watches: z.number().int().min(1).max(100_000).default(1000),
      /** WatchOperation streams open at once of one caller (principal) in this process; past it, RESOURCE_EXHAUSTED. */
      max_watches_per_caller: z.number().int().min(1).max(100_000).default(20),
    })
    .prefault({}),
  user_sessions: z
    .strictObject({
      /** Sessions at most in one provider's part of a ListUserSessions answer; past it, the part is cut and marked truncated. */
      max_per_provider: z.number().int().min(1).max(100_000).default(1000),
    })
    .prefault({}),
  /** Limits on guessing API keys and session tokens; 0 disables a limit. */
  limits: z
    .strictObject({
      /** Failed authentications from one client address per window; past it, RESOURCE_EXHAUSTED instead of UNAUTHENTICATED. */
      failed_auth_per_address: z.number().int().min(0).max(1_000_000).default(30),
      /** Refused token-bearing Terminate calls for one session id per window; past it, its token-bearing calls get RESOURCE_EXHAUSTED. */
      wrong_tokens_per_session: z.number().int().min(0).max(1_000_000).default(10),
      /** Refused token-bearing Terminate calls of one principal per window, whatever the session; past it, its token-bearing calls get RESOURCE_EXHAUSTED. */
      wrong_tokens_per_principal: z.number().int().min(0).max(1_000_000).default(1000),
      window_ms: z.number().int().min(1000).max(24 * 3_600_000).default(60_000),
    })
    .prefault({}),
  audit: z
    .strictObject({
      /** Audit events older than this many days are deleted (hourly); 0 keeps them forever. */
      retention_days: z.number().int().min(0).max(36_500).default(90),
    })
    .prefault({}),
}).superRefine((c, ctx) => {
  if (c.default_provider !== undefined && !c.providers.some((p) => p.name === c.default_provider)) {
    ctx.addIssue({ code: "custom", path: ["default_provider"], message: `no provider is named "${c.default_provider}"; configured: ${c.providers.map((p) => p.name).join(", ")}` });
  }
});

export type Config = z.infer<typeof configSchema>;
