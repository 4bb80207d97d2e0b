import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { ensureAdminKey } from "./auth/admin-key.js";
import { ApiKeys, type ApiKeyEntry } from "./auth/api-keys.js";
import { TerminateAction } from "./api/terminate.js";
import type { Config } from "./config/schema.js";
import { buildProviders } from "./providers/registry.js";
import { createHandler } from "./server/handler.js";
import { HealthStatus } from "./server/health.js";
import { Metrics } from "./server/metrics.js";
import { listenOnePort, type OnePortServer } from "./server/one-port.js";
import { SqliteStore } from "./store/sqlite.js";

export interface RunningService {
  server: OnePortServer;
  /** Stops serving: in-flight calls finish within the grace period; then the store closes. */
  stop(): Promise<void>;
}

/** The composition root: config -> store -> providers -> server. */
export async function startService(config: Config, log: Logger): Promise<RunningService> {
  const store = SqliteStore.open(config.data_dir);
  const keys = new ApiKeys(config.api_keys?.map(keyEntry) ?? [bootstrapAdminKey(config.data_dir, log)]);
  const metrics = new Metrics();
  const providers = buildProviders(config.providers, store, metrics.observeAttempt);
  const terminate = new TerminateAction(providers, config.default_provider ?? providers[0]!.name, store, metrics.observeTermination);
  const health = new HealthStatus();
  const handler = createHandler({ config: config.server, store, keys, terminate, health, metrics, log });
  const tls = config.server.tls && { cert: readFileSync(config.server.tls.cert_file), key: readFileSync(config.server.tls.key_file) };
  const server = await listenOnePort(handler, { host: config.server.host, port: config.server.port, ...(tls ? { tls } : {}) });
  log.info({ host: config.server.host, port: server.port, tls: server.tls, data_dir: config.data_dir }, "serving");
  return {
    server,
    async stop() {
      health.shutdown();
      await server.close(config.server.shutdown_grace_ms);
      await Promise.all(providers.map((p) => p.close?.()));
      await store.close();
    },
  };
}

function keyEntry(k: NonNullable<Config["api_keys"]>[number]): ApiKeyEntry {
  return { name: k.name, sha256: k.sha256, permissions: k.permissions, ...(k.user_id ? { userId: k.user_id } : {}) };
}

function bootstrapAdminKey(dataDir: string, log: Logger): ApiKeyEntry {
  const admin = ensureAdminKey(dataDir);
  log.info({ path: admin.path, created: admin.created }, "no api_keys configured: using the admin key in this file");
  return admin.entry;
}
