import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import type { GroupCommit } from "./group-commit.js";
import type { SecretStore, SeenTokenStore, TotpStepStore } from "./store.js";

/** The service's own state in the SQLite file: step-up codes and inbound token ids used, and its secrets. */
export class SqliteServiceState implements TotpStepStore, SeenTokenStore, SecretStore {
  private readonly useStep: Database.Statement<[string, number]>;
  private readonly pruneSteps: Database.Statement<[string, number]>;
  private readonly useToken: Database.Statement<[string, string, number, number]>;
  private readonly pruneTokens: Database.Statement<[number]>;
  private readonly forgetToken: Database.Statement<[string, string]>;
  private readonly insertSecret: Database.Statement<[string, Buffer]>;
  private readonly selectSecret: Database.Statement<[string], { value: Buffer }>;

  constructor(
    db: Database.Database,
    private readonly commits: GroupCommit,
  ) {
    this.useStep = db.prepare("INSERT OR IGNORE INTO totp_steps (principal, step) VALUES (?, ?)");
    this.pruneSteps = db.prepare("DELETE FROM totp_steps WHERE principal = ? AND step < ?");
    // A lapsed row of the same id is taken over: the id is new again.
    this.useToken = db.prepare("INSERT INTO seen_tokens (issuer, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT (issuer, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE seen_tokens.expires_at < ?");
    this.pruneTokens = db.prepare("DELETE FROM seen_tokens WHERE expires_at < ?");
    this.forgetToken = db.prepare("DELETE FROM seen_tokens WHERE issuer = ? AND jti = ?");
    this.insertSecret = db.prepare("INSERT OR IGNORE INTO service_secrets (name, value) VALUES (?, ?)");
    this.selectSecret = db.prepare("SELECT value FROM service_secrets WHERE name = ?");
  }

  useTotpStep(principal: string, step: number): Promise<boolean> {
    return this.commits.write(() => {
      // Steps older than the window cannot be presented again; their rows are dropped.
      this.pruneSteps.run(principal, step - 10);
      return this.useStep.run(principal, step).changes > 0;
    });
  }

  firstUse(issuer: string, jti: string, until: Date): Promise<boolean> {
    return this.commits.write(() => {
      const now = Date.now();
      this.pruneTokens.run(now);
      return this.useToken.run(issuer, jti, until.getTime(), now).changes > 0;
    });
  }

  async forget(issuer: string, jti: string): Promise<void> {
    await this.commits.write(() => this.forgetToken.run(issuer, jti));
  }

  serviceSecret(name: string): Promise<Buffer> {
    return this.commits.write(() => {
      this.insertSecret.run(name, randomBytes(32));
      return Buffer.from(this.selectSecret.get(name)!.value);
    });
  }
}
