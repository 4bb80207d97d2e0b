import type pg from "pg";

/** Runs `run` in one transaction on one pooled connection; commits when it resolves, rolls back when it throws. */
export async function transaction<T>(pool: pg.Pool, run: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let result: T;
  try {
    await client.query("BEGIN");
    result = await run(client);
    await client.query("COMMIT");
  } catch (err) {
    try {
      await client.query("ROLLBACK");
      client.release();
    } catch (rollbackErr) {
      // The connection is in an unknown state: the pool drops it.
      client.release(rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr)));
    }
    throw err;
  }
  client.release();
  return result;
}

/** One page of a table keyed by time-ordered ids (sessions, operations): newest first, of one user when given, below the cursor when given. */
export async function newestFirst<R extends pg.QueryResultRow>(pool: pg.Pool, table: "sessions" | "operations", q: { userId?: string; beforeId?: string; limit: number }): Promise<R[]> {
  const filters: string[] = [];
  const params: unknown[] = [];
  if (q.userId !== undefined) filters.push(`user_id = $${params.push(q.userId)}`);
  if (q.beforeId !== undefined) filters.push(`id < $${params.push(q.beforeId)}`);
  const where = filters.length > 0 ? `WHERE ${filters.join(" AND ")}` : "";
  const { rows } = await pool.query<R>(`SELECT * FROM ${table} ${where} ORDER BY id DESC LIMIT $${params.push(q.limit)}`, params);
  return rows;
}
