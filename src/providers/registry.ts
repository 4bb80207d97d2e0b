import { z } from "zod";
import type { SessionStore } from "../store/store.js";
import type { AttemptObserver } from "./attempt-observer.js";
import { auth0Type } from "./auth0.js";
import { entraType } from "./entra.js";
import { googleType } from "./google.js";
import { WatchedProvider } from "./health.js";
import { keycloakType } from "./keycloak.js";
import { kratosType } from "./kratos.js";
import { localType } from "./local.js";
import { luckyMonacoType } from "./luckymonaco.js";
import { oktaType } from "./okta.js";
import { providerCommon, type ProviderConfig } from "./provider-settings.js";
import type { ProviderType } from "./provider-type.js";
import { ResilientProvider } from "./resilient.js";
import { rocketchatType } from "./rocketchat.js";
import { senhaseguraType } from "./senhasegura.js";
import { zitadelType } from "./zitadel.js";

/** Every provider type the configuration can name: one line each. */
export const PROVIDER_TYPES: readonly ProviderType[] = [localType, luckyMonacoType, rocketchatType, zitadelType, senhaseguraType, keycloakType, kratosType, entraType, googleType, oktaType, auth0Type];

/** The schema of one `providers:` entry (src/config/schema.ts): the common settings, and its type's own. */
export const providerEntry = z.discriminatedUnion(
  "type",
  PROVIDER_TYPES.map((t) => t.settings.extend({ type: z.literal(t.type), ...providerCommon })) as unknown as [z.ZodObject, ...z.ZodObject[]],
);

/**
 * The configured providers, each with its health (ListProviders): upstream ones behind timeouts,
 * retries and a circuit breaker; the embedded store, in this process, behind the watcher alone.
 */
export function buildProviders(configs: readonly ProviderConfig[], sessions: SessionStore, observe: AttemptObserver): WatchedProvider[] {
  return configs.map((c) => {
    const { name, type, timeout_ms, max_attempts, initial_backoff_ms, max_backoff_ms, breaker_failures, breaker_half_open_after_ms, max_connections, ...own } = c;
    const providerType = PROVIDER_TYPES.find((t) => t.type === type)!;
    const provider = providerType.create(name, own, { sessions, maxConnections: max_connections });
    if (type === "local") return new WatchedProvider(provider);
    return new ResilientProvider(
      provider,
      {
        timeoutMs: timeout_ms,
        maxAttempts: max_attempts,
        initialBackoffMs: initial_backoff_ms,
        maxBackoffMs: max_backoff_ms,
        breakerFailures: breaker_failures,
        breakerHalfOpenAfterMs: breaker_half_open_after_ms,
      },
      observe,
    );
  });
}
