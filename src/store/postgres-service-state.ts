import { randomBytes } from "node:crypto";
import type pg from "pg";
import type { SecretStore, SeenTokenStore, SigningKeyStore, TotpStepStore } from "./store.js";

/** The service's own state in PostgreSQL: step-up codes and inbound token ids used, its secrets and its signing key, shared by every replica. */
export class PostgresServiceState implements TotpStepStore, SeenTokenStore, SecretStore, SigningKeyStore {
  readonly location = "the store's signing_keys table";

  constructor(private readonly pool: pg.Pool) {}

  async useTotpStep(principal: string, step: number): Promise<boolean> {
    // Steps older than the window cannot be presented again; their rows are dropped. Two
    // replicas recording the same step at once: the unique key lets one insert, the other gets false.
    const { rowCount } = await this.pool.query(
      `WITH pruned AS (DELETE FROM totp_steps WHERE principal = $1 AND step < $2::bigint - 10)
       INSERT INTO totp_steps (principal, step) VALUES ($1, $2::bigint)
       ON CONFLICT DO NOTHING`,
      [principal, step],
    );
    return (rowCount ?? 0) > 0;
  }

  async firstUse(issuer: string, jti: string, until: Date): Promise<boolean> {
    await this.pool.query("DELETE FROM seen_tokens WHERE expires_at < now()");
    // Two replicas given the same token at once: the unique key lets one record it. A lapsed row is taken over.
    const { rowCount } = await this.pool.query(
      `INSERT INTO seen_tokens (issuer, jti, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (issuer, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE seen_tokens.expires_at < now()`,
      [issuer, jti, until],
    );
    return (rowCount ?? 0) > 0;
  }

  async forget(issuer: string, jti: string): Promise<void> {
    await this.pool.query("DELETE FROM seen_tokens WHERE issuer = $1 AND jti = $2", [issuer, jti]);
  }

  async serviceSecret(name: string): Promise<Buffer> {
    // Replicas starting at once: one insert wins, and every one reads the winner's value.
    await this.pool.query("INSERT INTO service_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", [name, randomBytes(32)]);
    const { rows } = await this.pool.query<{ value: Buffer }>("SELECT value FROM service_secrets WHERE name = $1", [name]);
    return rows[0]!.value;
  }

  async signingKey(generate: () => Promise<string>): Promise<string> {
    const kept = await this.keptSigningKey();
    if (kept !== undefined) return kept;
    // Replicas starting at once: one insert wins, and every one reads the winner's key.
    await this.pool.query("INSERT INTO signing_keys (name, pem) VALUES ('generated', $1) ON CONFLICT (name) DO NOTHING", [await generate()]);
    return (await this.keptSigningKey())!;
  }

  private async keptSigningKey(): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ pem: string }>("SELECT pem FROM signing_keys WHERE name = 'generated'");
    return rows[0]?.pem;
  }
}
