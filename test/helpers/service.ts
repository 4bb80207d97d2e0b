import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { newApiKey } from "../../src/auth/admin-key.js";
import { sha256Hex } from "../../src/auth/api-keys.js";
import type { Permission } from "../../src/auth/principal.js";
import { parseConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { createLogger } from "../../src/log.js";
import { startService, type RunningService } from "../../src/main.js";
import { until } from "./wait.js";

/** The environment variable that holds the `stepup` key's TOTP secret; the helper sets it. */
export const STEPUP_TOTP_ENV = "SESSION_CONTROL_TEST_STEPUP_TOTP";
/** The `stepup` key's TOTP secret (base32 of 20 random bytes), the same for every test service of this process. */
export const STEPUP_TOTP_SECRET = base32Encode(randomBytes(20));
process.env[STEPUP_TOTP_ENV] = STEPUP_TOTP_SECRET;

/** The environment variable that holds the metrics bearer token; the helper sets it. */
export const METRICS_TOKEN_ENV = "SESSION_CONTROL_TEST_METRICS_TOKEN";
export const METRICS_TOKEN = randomBytes(24).toString("base64url");
process.env[METRICS_TOKEN_ENV] = METRICS_TOKEN;
/** `metrics:` for a test service whose /metrics is read on its main port, with METRICS_TOKEN. */
export const METRICS_WITH_TOKEN = { bearer_token: `env:${METRICS_TOKEN_ENV}` };

/** The callers every test service knows, by role. */
export const ROLES = {
  admin: { permissions: ["session.create", "session.read", "session.delete"] },
  deleter: { permissions: ["session.delete"] },
  reader: { permissions: ["session.read"] },
  alice: { permissions: [], userId: "alice" },
  nobody: { permissions: [] },
  /** SSF stream management only. */
  ssf: { permissions: ["ssf.manage"] },
  /** Identity links only (SetUserLinks, DeleteUserLinks). */
  linker: { permissions: ["users.manage"] },
  /** Every permission, and a TOTP secret: TerminateUser needs x-2fa-code. */
  stepup: { permissions: ["session.create", "session.read", "session.delete"], totpSecret: `env:${STEPUP_TOTP_ENV}` },
} satisfies Record<string, { permissions: Permission[]; userId?: string; totpSecret?: string }>;
export type Role = keyof typeof ROLES;

export interface TestService {
  baseUrl: string;
  port: number;
  dataDir: string;
  /** The API key of each role. */
  keys: Record<Role, string>;
  /** Every log line the service wrote, parsed. */
  logs: Record<string, unknown>[];
  /** Raw log text, for searching secrets. */
  logText(): string;
  service: RunningService;
  stop(): Promise<void>;
}

/**
 * A real service on 127.0.0.1, port 0, with a fresh data directory and one API key per role.
 * `extra` is more configuration as in the file (e.g. providers, default_provider), validated the same way.
 */
export async function startTestService(overrides: Partial<Config["server"]> = {}, extra: Record<string, unknown> = {}): Promise<TestService> {
  const dataDir = mkdtempSync(join(tmpdir(), "session-control-test-"));
  const keys = Object.fromEntries(Object.keys(ROLES).map((r) => [r, newApiKey()])) as Record<Role, string>;
  // The keys go through the configuration's own validation, as in a file (totp_secret is a reference).
  const apiKeys = (Object.entries(ROLES) as [Role, (typeof ROLES)[Role]][]).map(([name, r]) => ({
    name,
    sha256: sha256Hex(keys[name]),
    permissions: r.permissions,
    ...("userId" in r ? { user_id: r.userId } : {}),
    ...("totpSecret" in r ? { totp_secret: r.totpSecret } : {}),
  }));
  const base = parseConfig({ ...extra, api_keys: apiKeys }, { port: 0, dataDir });
  const config: Config = { ...base, server: { ...base.server, ...overrides } };
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const service = await startService(config, createLogger("info", sink));
  const port = service.server.port;
  return {
    baseUrl: `${service.server.tls ? "https" : "http"}://127.0.0.1:${port}`,
    port,
    dataDir,
    keys,
    get logs() {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => lines.join("\n"),
    service,
    async stop() {
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

/** A client of the service's SessionControl over gRPC (connect-node, h2c). */
export function grpcClient(svc: TestService): Client<typeof SessionControl> {
  return createClient(SessionControl, createGrpcTransport({ baseUrl: svc.baseUrl }));
}

/**
 * Resolves once the service has written the call lines of the calls answered so far. A call's line
 * is written when its HTTP exchange ends, which may be just after the client has its answer: this
 * makes one more call (a health check) and waits for its line, which comes after theirs.
 */
export async function callLinesWritten(svc: TestService): Promise<void> {
  const checks = () => svc.logs.filter((l) => l["msg"] === "call" && l["procedure"] === "/grpc.health.v1.Health/Check").length;
  const before = checks();
  await createClient(Health, createGrpcTransport({ baseUrl: svc.baseUrl })).check({ service: "" });
  await until("the call line of a health check", () => checks() > before);
}

/** RFC 4648 base32, without padding. */
function base32Encode(bytes: Buffer): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let out = "";
  let value = 0;
  let bits = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += alphabet[(value >>> bits) & 31];
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}
