import { join } from "node:path";
import Database from "better-sqlite3";
import { SqliteStores } from "../../src/store/sqlite.js";

/** Sessions seeded here start at this creation time, one millisecond apart. */
const BASE_MS = Date.UTC(2025, 0, 1);
/** Only the admin key ends sessions in the benchmark, so every session may share one token hash. */
const TOKEN_HASH = Buffer.alloc(32, 0xab);
export const RESOURCE_OWNER = "bench-org";

/**
 * The id of seeded session number i: 32 hex digits, creation time first (as the store makes
 * them, so they sort by creation and page tokens accept them), then the number itself.
 */
export function sessionId(i: number): string {
  return (BASE_MS + i).toString(16).padStart(12, "0") + i.toString(16).padStart(20, "0");
}

/** Users of sessions that no list user owns: about ten sessions each. */
export function ordinaryUser(i: number): string {
  return `user-${i % 100_003}`;
}

/** Creates the store's file with the store's own schema, and returns its path. */
export async function createStore(dataDir: string): Promise<string> {
  const store = SqliteStores.open(dataDir);
  await store.close();
  return join(dataDir, "sessions.db");
}

/**
 * Inserts sessions number `from` to `to - 1` in one transaction, straight into the file (the
 * server is not running). Journal off the WAL and no fsync while seeding: it is a bulk load.
 * Returns the milliseconds taken.
 */
export function seedSessions(file: string, from: number, to: number, userOf: (i: number) => string = ordinaryUser): number {
  const start = performance.now();
  const db = new Database(file);
  try {
    db.pragma("journal_mode = DELETE");
    db.pragma("synchronous = OFF");
    db.pragma("cache_size = -262144");
    const max = db.prepare("SELECT MAX(sequence) AS s FROM sessions").get() as { s: number | null };
    const insert = db.prepare(
      `INSERT INTO sessions (id, user_id, resource_owner, creation_date, change_date, sequence, expiration_date, metadata, token_hash)
       VALUES (?, ?, ?, ?, ?, ?, NULL, '{}', ?)`,
    );
    let sequence = max.s ?? 0;
    db.transaction(() => {
      for (let i = from; i < to; i++) insert.run(sessionId(i), userOf(i), RESOURCE_OWNER, BASE_MS + i, BASE_MS + i, ++sequence, TOKEN_HASH);
    })();
    db.pragma("journal_mode = WAL");
  } finally {
    db.close();
  }
  return performance.now() - start;
}

/** Counts rows, for checking that the store holds what the report says. */
export function countSessions(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM sessions").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

export interface ListUser {
  userId: string;
  sessions: number;
}

/**
 * Spreads the sessions of the list users evenly over `total` session numbers (a user's sessions
 * are created over time, among everyone else's). Returns the owner of each number, and the
 * numbers that belong to no list user.
 */
export function layOut(total: number, users: ListUser[]): { userOf: (i: number) => string; ordinary: Int32Array } {
  const owner = new Int16Array(total).fill(-1);
  users.forEach((u, k) => {
    if (u.sessions > total) throw new Error(`list user ${u.userId}: ${u.sessions} sessions do not fit in ${total}`);
    for (let j = 0; j < u.sessions; j++) {
      let at = Math.floor(((j + 0.5) * total) / u.sessions);
      while (owner[at % total] !== -1) at++;
      owner[at % total] = k;
    }
  });
  const ordinary = new Int32Array(total - users.reduce((n, u) => n + u.sessions, 0));
  let n = 0;
  for (let i = 0; i < total; i++) if (owner[i] === -1) ordinary[n++] = i;
  return { userOf: (i) => (owner[i] === -1 ? ordinaryUser(i) : users[owner[i]!]!.userId), ordinary };
}

/** A small deterministic PRNG (mulberry32), so that runs pick the same sessions. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates, in place. */
export function shuffle<T extends { length: number; [i: number]: number }>(items: T, rand: () => number): T {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = items[i]!;
    items[i] = items[j]!;
    items[j] = t;
  }
  return items;
}
