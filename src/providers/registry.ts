import { localType } from "./local.js";
import type { ProviderType } from "./provider-type.js";

/** Every provider type the configuration can name: one line each. */
export const PROVIDER_TYPES: readonly ProviderType[] = [localType];
