import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { newApiKey } from "../../src/auth/admin-key.js";
import { sha256Hex } from "../../src/auth/api-keys.js";
import type { Permission } from "../../src/auth/principal.js";
import { parseConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { createLogger } from "../../src/log.js";
import { startService, type RunningService } from "../../src/main.js";

/** The callers every test service knows, by role. */
export const ROLES = {
  admin: { permissions: ["session.create", "session.read", "session.delete"] },
  deleter: { permissions: ["session.delete"] },
  reader: { permissions: ["session.read"] },
  alice: { permissions: [], userId: "alice" },
  nobody: { permissions: [] },
} satisfies Record<string, { permissions: Permission[]; userId?: string }>;
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
  const base = parseConfig(extra, { port: 0, dataDir });
  const config: Config = {
    ...base,
    server: { ...base.server, ...overrides },
    api_keys: (Object.entries(ROLES) as [Role, (typeof ROLES)[Role]][]).map(([name, r]) => ({
      name,
      sha256: sha256Hex(keys[name]),
      permissions: r.permissions,
      ...("userId" in r ? { user_id: r.userId } : {}),
    })),
  };
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
