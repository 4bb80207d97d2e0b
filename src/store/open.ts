import type { Logger } from "pino";
import { PostgresStores } from "./postgres.js";
import { SqliteStores } from "./sqlite.js";
import type { Stores } from "./store.js";

/** The configured store: the SQLite file in the data directory (the default), or PostgreSQL for several replicas. */
export async function openStore(store: string, dataDir: string, log?: Pick<Logger, "error">): Promise<Stores> {
  if (store !== "sqlite") return PostgresStores.connect(store);
  return SqliteStores.open(dataDir, {
    onSyncFailure: (err) => log?.error({ err: { name: err.name, message: err.message } }, "store: a commit could not be made durable; every call is refused from now on: restart the service"),
  });
}
