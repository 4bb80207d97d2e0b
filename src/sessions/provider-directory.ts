import type { Provider, ProviderHealthReport } from "../providers/provider.js";

/** A configured provider as ListProviders shows it. */
export interface ProviderStatus {
  name: string;
  type: string;
  isDefault: boolean;
  health: ProviderHealthReport;
}

/** The configured providers, the default first named, with what this service has seen of each. */
export class ProviderDirectory {
  constructor(
    private readonly providers: readonly { provider: Provider; health(): ProviderHealthReport }[],
    private readonly defaultName: string,
  ) {}

  list(): ProviderStatus[] {
    return this.providers.map(({ provider, health }) => ({ name: provider.name, type: provider.type, isDefault: provider.name === this.defaultName, health: health() }));
  }
}
