import type { ProviderConfig } from "../config/schema.js";
import type { SessionStore } from "../store/store.js";
import { localType } from "./local.js";
import { luckyMonacoType } from "./luckymonaco.js";
import type { Provider } from "./provider.js";
import type { ProviderType } from "./provider-type.js";
import { rocketchatType } from "./rocketchat.js";
import { ResilientProvider, type AttemptObserver } from "./resilient.js";
import { senhaseguraType } from "./senhasegura.js";
import { zitadelType } from "./zitadel.js";

/** Every provider type the configuration can name: one line each. */
export const PROVIDER_TYPES: readonly ProviderType[] = [localType, luckyMonacoType, rocketchatType, zitadelType, senhaseguraType];

/** The configured providers; upstream ones behind timeouts, retries and a circuit breaker. */
export function buildProviders(configs: readonly ProviderConfig[], sessions: SessionStore, observe: AttemptObserver): Provider[] {
  return configs.map((c) => {
    const { name, type, timeout_ms, max_attempts, initial_backoff_ms, max_backoff_ms, breaker_failures, breaker_half_open_after_ms, max_connections, ...own } = c;
    const providerType = PROVIDER_TYPES.find((t) => t.type === type)!;
    const provider = providerType.create(name, own, { sessions, maxConnections: max_connections });
    if (type === "local") return provider;
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
