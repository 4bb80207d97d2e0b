import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { PostgresStores } from "../../src/store/postgres.js";
import { SqliteStores } from "../../src/store/sqlite.js";
import type { Stores } from "../../src/store/store.js";
import { dropSchema, freshSchema, postgresSkipReason, postgresUrl, withClient } from "./postgres.js";

export const postgresSkip = await postgresSkipReason();

export interface StoreEnv {
  /** A store on the same data each time it is called. */
  open(): Promise<Stores>;
  /** Runs one statement on the store's data through a connection of its own; answers its rows (none for a write). */
  sql(statement: string): Promise<Record<string, unknown>[]>;
  cleanup(): Promise<void>;
}

/** Each store under the same suite; `skip` says why one cannot run here. */
export const STORES: { name: "sqlite" | "postgres"; skip?: string | undefined; setup(): Promise<StoreEnv> }[] = [
  {
    name: "sqlite",
    async setup() {
      const dir = mkdtempSync(join(tmpdir(), "sc-store-"));
      return {
        open: async () => SqliteStores.open(dir),
        async sql(statement) {
          const db = new Database(join(dir, "sessions.db"));
          try {
            const prepared = db.prepare(statement);
            return prepared.reader ? (prepared.all() as Record<string, unknown>[]) : (prepared.run(), []);
          } finally {
            db.close();
          }
        },
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: "postgres",
    skip: postgresSkip,
    async setup() {
      // A fresh schema per test: the tests never see each other's rows, nor those of parallel test files.
      const schema = freshSchema();
      return {
        open: () => PostgresStores.connect(postgresUrl, { schema, poolSize: 4 }),
        sql: (statement) => withClient(async (c) => (await c.query<Record<string, unknown>>(statement)).rows, schema),
        cleanup: () => dropSchema(schema),
      };
    },
  },
];
