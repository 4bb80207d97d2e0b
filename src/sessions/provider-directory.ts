import type { ProviderHealth, WatchedProvider } from "../providers/health.js";

/** A configured provider as ListProviders shows it. */
export interface ProviderStatus {
  name: string;
  type: string;
  isDefault: boolean;
  health: ProviderHealth;
}

/** The configured providers, which one is the default, and what this service has seen of each. */
export class ProviderDirectory {
  constructor(
    private readonly providers: readonly WatchedProvider[],
    private readonly defaultName: string,
  ) {}

  list(): ProviderStatus[] {
    return this.providers.map((p) => ({ name: p.name, type: p.type, isDefault: p.name === this.defaultName, health: p.health() }));
  }
}
