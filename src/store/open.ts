import { PostgresStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";
import type { Store } from "./store.js";

/** The configured store: the SQLite file in the data directory (the default), or PostgreSQL for several replicas. */
export async function openStore(store: string, dataDir: string): Promise<Store> {
  return store === "sqlite" ? SqliteStore.open(dataDir) : PostgresStore.connect(store);
}
