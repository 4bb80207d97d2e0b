import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { PostgresStores } from "../../src/store/postgres.js";
import { SqliteStores } from "../../src/store/sqlite.js";
import type { Stores } from "../../src/store/store.js";
import type { StreamRecord } from "../../src/store/stream-types.js";
import { dropSchema, freshSchema, postgresSkipReason, postgresUrl, withClient } from "../helpers/postgres.js";

const postgresSkip = await postgresSkipReason();

interface StoreEnv {
  /** Another store on the same data (another replica, or the same file after a restart). */
  open(): Promise<Stores>;
  /** Runs SQL on the same data through a connection of its own; `?` placeholders. */
  sql(text: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Now, as the store's time columns take it. */
  now(): unknown;
  cleanup(): Promise<void>;
}

const STORES: { name: string; skip?: string | undefined; setup(): StoreEnv }[] = [
  {
    name: "sqlite",
    setup() {
      const dir = mkdtempSync(join(tmpdir(), "sc-ssf-store-"));
      return {
        open: async () => SqliteStores.open(dir),
        sql: async (text, params = []) => {
          const db = new Database(join(dir, "sessions.db"));
          try {
            const statement = db.prepare(text);
            return statement.reader ? (statement.all(...params) as Record<string, unknown>[]) : (statement.run(...params), []);
          } finally {
            db.close();
          }
        },
        now: () => Date.now(),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: "postgres",
    skip: postgresSkip,
    setup() {
      const schema = freshSchema();
      let n = 0;
      return {
        open: () => PostgresStores.connect(postgresUrl, { schema, poolSize: 2 }),
        sql: (text, params = []) => withClient(async (c) => (await c.query(text.replace(/\?/g, () => `$${++n}`), params)).rows, schema).finally(() => (n = 0)),
        now: () => new Date(),
        cleanup: () => dropSchema(schema),
      };
    },
  },
];

function stream(id: string, extra: Partial<StreamRecord> = {}): StreamRecord {
  const now = new Date(1_750_000_000_000);
  return {
    streamId: id,
    status: "enabled",
    wantsSessionRevoked: true,
    config: { delivery: { method: "urn:ietf:rfc:8935", endpoint_url: "https://rx.example/events", authorization_header: "Bearer rx" }, aud: "https://rx.example", events_delivered: ["x"] },
    createdAt: now,
    updatedAt: now,
    ...extra,
  };
}

describe.each(STORES)("SSF streams and the signing key in the $name store", ({ skip, setup }) => {
  let env: StoreEnv;
  const opened: Stores[] = [];
  const open = async () => {
    const s = await env.open();
    opened.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    await env?.cleanup();
  });

  /** One pending delivery of a notice to `subscriber`, and one already delivered. */
  async function deliveriesFor(subscriber: string): Promise<void> {
    await env.sql("INSERT INTO outbox_notices (created_at, notice) VALUES (?, ?)", [env.now(), '{"kind":"verification"}']);
    const [notice] = await env.sql("SELECT max(id) AS id FROM outbox_notices");
    for (const state of ["pending", "delivered"])
      await env.sql(
        "INSERT INTO deliveries (notice_id, subscriber, jti, state, created_at, updated_at, next_attempt_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [notice!["id"], subscriber, `${subscriber}-${state}`, state, env.now(), env.now(), env.now(), env.now()],
      );
  }
  const states = async () => Object.fromEntries((await env.sql("SELECT jti, state FROM deliveries ORDER BY jti")).map((r) => [r["jti"], r["state"]]));

  it.skipIf(skip !== undefined)("creates, reads, lists, changes and deletes streams; at most maxStreams", async () => {
    env = setup();
    const store = (await open()).streams;
    expect(await store.createStream(stream("a"), 2)).toBe(true);
    expect(await store.createStream(stream("b", { wantsSessionRevoked: false, createdAt: new Date(1_750_000_000_001) }), 2)).toBe(true);
    expect(await store.createStream(stream("c"), 2)).toBe(false);
    expect(await store.getStream("a")).toEqual(stream("a"));
    expect(await store.getStream("c")).toBeUndefined();
    expect((await store.listStreams()).map((s) => [s.streamId, s.wantsSessionRevoked])).toEqual([["a", true], ["b", false]]);

    const config = { ...stream("a").config, description: "new" };
    const changed = await store.changeStream("a", { config, wantsSessionRevoked: false });
    expect(changed).toMatchObject({ streamId: "a", config, wantsSessionRevoked: false, status: "enabled" });
    expect(changed!.updatedAt.getTime()).toBeGreaterThan(stream("a").updatedAt.getTime());
    expect(await store.changeStream("a", { status: "paused", statusReason: "maintenance" })).toMatchObject({ status: "paused", statusReason: "maintenance", config });
    expect(await store.changeStream("a", { status: "enabled" })).not.toHaveProperty("statusReason");
    expect(await store.changeStream("zz", { status: "paused" })).toBeUndefined();

    expect(await store.deleteStream("a")).toBe(true);
    expect(await store.deleteStream("a")).toBe(false);
    expect(await store.getStream("a")).toBeUndefined();
    expect(await store.createStream(stream("c"), 2)).toBe(true);
  });

  it.skipIf(skip !== undefined)("disabling or deleting a stream drops its pending deliveries in the same transaction; pausing keeps them", async () => {
    env = setup();
    const store = (await open()).streams;
    for (const id of ["a", "b", "c"]) {
      await store.createStream(stream(id), 10);
      await deliveriesFor(`stream:${id}`);
    }
    await store.changeStream("a", { status: "paused" });
    await store.changeStream("b", { status: "disabled", statusReason: "off" });
    await store.deleteStream("c");
    expect(await states()).toEqual({
      "stream:a-delivered": "delivered",
      "stream:a-pending": "pending",
      "stream:b-delivered": "delivered",
      "stream:b-pending": "dropped",
      "stream:c-delivered": "delivered",
      "stream:c-pending": "dropped",
    });
  });

  it.skipIf(skip !== undefined)("keeps the first signing key made: processes starting at once all get it", async () => {
    env = setup();
    const [one, two] = [await open(), await open()];
    const got = await Promise.all([one.signingKeys.signingKey(async () => "key one"), two.signingKeys.signingKey(async () => "key two")]);
    expect(got[0]).toBe(got[1]);
    expect(["key one", "key two"]).toContain(got[0]);
    // Later starts read the kept key and make none.
    const third = await open();
    expect(await third.signingKeys.signingKey(() => Promise.reject(new Error("made a second key")))).toBe(got[0]);
  });
});

describe("the SQLite store's signing key file", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("is <data_dir>/signing-key.pem, 0600, and an existing one is made 0600", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sc-ssf-key-"));
    dirs.push(dir);
    const stores = SqliteStores.open(dir);
    try {
      const pem = await stores.signingKeys.signingKey(async () => "PEM");
      const file = join(dir, "signing-key.pem");
      expect([pem, readFileSync(file, "utf8"), statSync(file).mode & 0o777]).toEqual(["PEM", "PEM", 0o600]);
      writeFileSync(file, "OTHER");
      chmodSync(file, 0o644);
      expect(statSync(file).mode & 0o777).toBe(0o644);
      expect(await stores.signingKeys.signingKey(async () => "unused")).toBe("OTHER");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(stores.signingKeys.location).toBe(`data_dir: ${file}`);
    } finally {
      await stores.close();
    }
  });
});
