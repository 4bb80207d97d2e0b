import type Database from "better-sqlite3";
import type { GroupCommit } from "./group-commit.js";
import { linksFromRow, type LinksRow } from "./link-rows.js";
import { LinkTakenError, type LinkStore, type NewUserLinks, type UserLinksRecord } from "./link-types.js";

/** Identity links in the SQLite file: an email, or an (iss, sub) pair, is the primary key of its row, so it has one user. */
export const LINK_SCHEMA = `
CREATE TABLE IF NOT EXISTS user_links (
  user_id TEXT PRIMARY KEY,
  provider_user_ids TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS user_emails (
  email TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS user_emails_by_user ON user_emails (user_id, position);
CREATE TABLE IF NOT EXISTS user_identities (
  iss TEXT NOT NULL,
  sub TEXT NOT NULL,
  user_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (iss, sub)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS user_identities_by_user ON user_identities (user_id, position);
`;

/** Identity links in the SQLite file; a Set replaces a user's links in one commit, or in none when one is taken. */
export class SqliteLinks implements LinkStore {
  private readonly s;

  constructor(
    db: Database.Database,
    private readonly commits: GroupCommit,
  ) {
    this.s = {
      upsert: db.prepare<[{ user_id: string; provider_user_ids: string; now: number }]>(
        `INSERT INTO user_links (user_id, provider_user_ids, created_at, updated_at) VALUES (@user_id, @provider_user_ids, @now, @now)
         ON CONFLICT (user_id) DO UPDATE SET provider_user_ids = excluded.provider_user_ids, updated_at = excluded.updated_at`,
      ),
      get: db.prepare<[string], Omit<LinksRow, "emails" | "identities">>("SELECT * FROM user_links WHERE user_id = ?"),
      emails: db.prepare<[string], { email: string }>("SELECT email FROM user_emails WHERE user_id = ? ORDER BY position"),
      identities: db.prepare<[string], { iss: string; sub: string }>("SELECT iss, sub FROM user_identities WHERE user_id = ? ORDER BY position"),
      // A row of another user stays: no change tells that the email or identity is taken.
      insertEmail: db.prepare<[string, string, number]>("INSERT INTO user_emails (email, user_id, position) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
      insertIdentity: db.prepare<[string, string, string, number]>("INSERT INTO user_identities (iss, sub, user_id, position) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"),
      deleteEmails: db.prepare<[string]>("DELETE FROM user_emails WHERE user_id = ?"),
      deleteIdentities: db.prepare<[string]>("DELETE FROM user_identities WHERE user_id = ?"),
      deleteLinks: db.prepare<[string]>("DELETE FROM user_links WHERE user_id = ?"),
      byEmail: db.prepare<[string], { user_id: string }>("SELECT user_id FROM user_emails WHERE email = ?"),
      byIdentity: db.prepare<[string, string], { user_id: string }>("SELECT user_id FROM user_identities WHERE iss = ? AND sub = ?"),
    };
  }

  setLinks(links: NewUserLinks): Promise<UserLinksRecord> {
    return this.commits.write(() => {
      const { userId } = links;
      this.s.upsert.run({ user_id: userId, provider_user_ids: JSON.stringify(links.providerUserIds), now: Date.now() });
      this.clear(userId);
      links.emails.forEach((email, i) => {
        if (this.s.insertEmail.run(email, userId, i).changes === 0) throw new LinkTakenError({ email });
      });
      links.identities.forEach((identity, i) => {
        if (this.s.insertIdentity.run(identity.iss, identity.sub, userId, i).changes === 0) throw new LinkTakenError({ identity });
      });
      return this.read(userId)!;
    });
  }

  getLinks(userId: string): Promise<UserLinksRecord | undefined> {
    return this.commits.read(() => this.read(userId));
  }

  deleteLinks(userId: string): Promise<boolean> {
    return this.commits.write(() => {
      this.clear(userId);
      return this.s.deleteLinks.run(userId).changes > 0;
    });
  }

  userByEmail(email: string): Promise<string | undefined> {
    return this.commits.read(() => this.s.byEmail.get(email)?.user_id);
  }

  userByIdentity(iss: string, sub: string): Promise<string | undefined> {
    return this.commits.read(() => this.s.byIdentity.get(iss, sub)?.user_id);
  }

  private clear(userId: string): void {
    this.s.deleteEmails.run(userId);
    this.s.deleteIdentities.run(userId);
  }

  private read(userId: string): UserLinksRecord | undefined {
    const row = this.s.get.get(userId);
    if (!row) return undefined;
    return linksFromRow({ ...row, emails: this.s.emails.all(userId).map((e) => e.email), identities: this.s.identities.all(userId) });
  }
}
