import type pg from "pg";
import { linksFromRow, type LinksRow } from "./link-rows.js";
import { LinkTakenError, type LinkStore, type NewUserLinks, type UserLinksRecord } from "./link-types.js";
import { transaction } from "./postgres-pool.js";

/** A user's links in one statement, so one snapshot: never the emails of one Set with the identities of another. */
const SELECT_LINKS = `
SELECT l.user_id, l.provider_user_ids, l.created_at, l.updated_at,
  ARRAY(SELECT e.email FROM user_emails e WHERE e.user_id = l.user_id ORDER BY e.position) AS emails,
  coalesce((SELECT json_agg(json_build_object('iss', i.iss, 'sub', i.sub) ORDER BY i.position) FROM user_identities i WHERE i.user_id = l.user_id), '[]'::json) AS identities
FROM user_links l WHERE l.user_id = $1`;

/**
 * Identity links in PostgreSQL, shared by every replica. A Set locks its user's row first (Sets of
 * one user run one after the other), then inserts emails and identities with ON CONFLICT DO
 * NOTHING: a row another transaction is inserting is waited for, and one that is there (committed)
 * is not inserted, so the taken one is known and the whole Set rolls back. Inserts go in sorted
 * order, so that two Sets claiming the same rows cannot deadlock.
 */
export class PostgresLinks implements LinkStore {
  constructor(private readonly pool: pg.Pool) {}

  setLinks(links: NewUserLinks): Promise<UserLinksRecord> {
    const { userId } = links;
    return transaction(this.pool, async (c) => {
      await c.query(
        `INSERT INTO user_links (user_id, provider_user_ids, created_at, updated_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (user_id) DO UPDATE SET provider_user_ids = excluded.provider_user_ids, updated_at = excluded.updated_at`,
        [userId, JSON.stringify(links.providerUserIds), new Date()],
      );
      await c.query("DELETE FROM user_emails WHERE user_id = $1", [userId]);
      await c.query("DELETE FROM user_identities WHERE user_id = $1", [userId]);
      if (links.emails.length > 0) {
        const { rows } = await c.query<{ email: string }>(
          `INSERT INTO user_emails (email, user_id, position)
           SELECT email, $2::text, n - 1 FROM unnest($1::text[]) WITH ORDINALITY AS t(email, n) ORDER BY email COLLATE "C"
           ON CONFLICT (email) DO NOTHING RETURNING email`,
          [links.emails, userId],
        );
        const inserted = new Set(rows.map((r) => r.email));
        const email = links.emails.find((e) => !inserted.has(e));
        if (email !== undefined) throw new LinkTakenError({ email });
      }
      if (links.identities.length > 0) {
        const { rows } = await c.query<{ iss: string; sub: string }>(
          `INSERT INTO user_identities (iss, sub, user_id, position)
           SELECT iss, sub, $3::text, n - 1 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(iss, sub, n) ORDER BY iss COLLATE "C", sub COLLATE "C"
           ON CONFLICT (iss, sub) DO NOTHING RETURNING iss, sub`,
          [links.identities.map((i) => i.iss), links.identities.map((i) => i.sub), userId],
        );
        const inserted = new Set(rows.map((r) => JSON.stringify([r.iss, r.sub])));
        const identity = links.identities.find((i) => !inserted.has(JSON.stringify([i.iss, i.sub])));
        if (identity !== undefined) throw new LinkTakenError({ identity });
      }
      const { rows } = await c.query<LinksRow>(SELECT_LINKS, [userId]);
      return linksFromRow(rows[0]!);
    });
  }

  async getLinks(userId: string): Promise<UserLinksRecord | undefined> {
    const { rows } = await this.pool.query<LinksRow>(SELECT_LINKS, [userId]);
    return rows[0] && linksFromRow(rows[0]);
  }

  deleteLinks(userId: string): Promise<boolean> {
    return transaction(this.pool, async (c) => {
      // The user's row is locked first, as setLinks locks it: a Set racing this Delete waits for it rather than adding links to a row being deleted.
      await c.query("SELECT 1 FROM user_links WHERE user_id = $1 FOR UPDATE", [userId]);
      await c.query("DELETE FROM user_emails WHERE user_id = $1", [userId]);
      await c.query("DELETE FROM user_identities WHERE user_id = $1", [userId]);
      const { rowCount } = await c.query("DELETE FROM user_links WHERE user_id = $1", [userId]);
      return (rowCount ?? 0) > 0;
    });
  }

  async userByEmail(email: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ user_id: string }>("SELECT user_id FROM user_emails WHERE email = $1", [email]);
    return rows[0]?.user_id;
  }

  async userByIdentity(iss: string, sub: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ user_id: string }>("SELECT user_id FROM user_identities WHERE iss = $1 AND sub = $2", [iss, sub]);
    return rows[0]?.user_id;
  }
}
