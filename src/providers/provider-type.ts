import type { z } from "zod";
import type { MappingTable } from "../status/table.js";
import type { SessionStore } from "../store/store.js";
import type { Provider } from "./provider.js";

/** What every provider may use, besides its own settings. */
export interface ProviderDeps {
  /** The embedded store's sessions (the local provider's). */
  sessions: SessionStore;
  /** Most keep-alive connections to keep open to the upstream. */
  maxConnections: number;
}

/** A kind of backend: its settings in the configuration, and how to make one. */
export interface ProviderType<S extends z.ZodObject = z.ZodObject> {
  /** The `type` key of a `providers:` entry. */
  readonly type: string;
  /** Settings of its own, besides name, type and the common resilience settings. */
  readonly settings: S;
  /** How its answers map to gRPC statuses; the README's status table is rendered from it. */
  readonly table: MappingTable;
  create(name: string, settings: z.output<S>, deps: ProviderDeps): Provider;
}

/** Keeps the settings' type attached to create(). */
export function defineProviderType<S extends z.ZodObject>(t: ProviderType<S>): ProviderType<S> {
  return t;
}
