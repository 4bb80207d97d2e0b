import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calculateJwkThumbprint, createRemoteJWKSet, exportJWK, jwtVerify, type JWK } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { Secret } from "../../src/config/secret.js";
import { createLogger } from "../../src/log.js";
import { startService } from "../../src/main.js";
import { SigningKeys } from "../../src/notify/signing-keys.js";
import { SigningKeyFile } from "../../src/store/signing-key-file.js";
import { dropSchema, freshSchema, postgresSkipReason, storeUrl, withClient } from "../helpers/postgres.js";
import { startTestService, type TestService } from "../helpers/service.js";

const postgresSkip = await postgresSkipReason();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "sc-signing-"));
  dirs.push(dir);
  return dir;
}

/** A PEM file holding `key`, and its reference for the configuration. */
function keyFile(pem: string): string {
  const file = join(tempDir(), "key.pem");
  writeFileSync(file, pem, { mode: 0o600 });
  return `file:${file}`;
}

const pkcs8 = (key: KeyObject) => key.export({ type: "pkcs8", format: "pem" }) as string;
const KEYS = {
  p256: generateKeyPairSync("ec", { namedCurve: "P-256" }),
  p384: generateKeyPairSync("ec", { namedCurve: "P-384" }),
  rsa2048: generateKeyPairSync("rsa", { modulusLength: 2048 }),
  rsa1024: generateKeyPairSync("rsa", { modulusLength: 1024 }),
  ed25519: generateKeyPairSync("ed25519"),
};

async function jwks(baseUrl: string): Promise<JWK[]> {
  const res = await fetch(`${baseUrl}/jwks.json`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { keys: JWK[] }).keys;
}

/** The kid /jwks.json gives a public key: its RFC 7638 thumbprint. */
async function kidOf(publicKey: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(publicKey));
}

/** Signs a SET with `keys` and verifies it as a receiver does: against the service's /jwks.json, typ secevent+jwt. */
async function verifiesAgainst(svc: { baseUrl: string }, keys: SigningKeys): Promise<void> {
  const token = await keys.sign({ iss: svc.baseUrl, jti: "j1", iat: 1_750_000_000, aud: "https://rx.example", events: {} });
  const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${svc.baseUrl}/jwks.json`)), {
    typ: "secevent+jwt",
    issuer: svc.baseUrl,
    audience: "https://rx.example",
  });
  expect(payload["jti"]).toBe("j1");
  expect(protectedHeader.kid).toBe((await jwks(svc.baseUrl))[0]!.kid);
}

/** startService's failure for this configuration: one line. */
async function startError(extra: Record<string, unknown>): Promise<string> {
  const err = await startService(parseConfig(extra, { port: 0, dataDir: tempDir() }), createLogger("silent")).then(
    async (running) => {
      await running.stop();
      throw new Error("the service started");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).problems).toHaveLength(1);
  return (err as ConfigError).problems[0]!;
}

describe("signing.key_file", () => {
  it.each([
    ["EC P-256 (SEC1 PEM)", KEYS.p256, KEYS.p256.privateKey.export({ type: "sec1", format: "pem" }) as string, "ES256", "EC"],
    ["RSA 2048 (PKCS#1 PEM)", KEYS.rsa2048, KEYS.rsa2048.privateKey.export({ type: "pkcs1", format: "pem" }) as string, "RS256", "RSA"],
    ["Ed25519 (PKCS#8 PEM)", KEYS.ed25519, pkcs8(KEYS.ed25519.privateKey), "EdDSA", "OKP"],
  ])("%s: published with its alg and thumbprint kid, no private part; SETs signed with it verify", async (_name, pair, pem, alg, kty) => {
    const svc = await startTestService({}, { signing: { key_file: keyFile(pem) } });
    try {
      const keys = await jwks(svc.baseUrl);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatchObject({ kty, alg, use: "sig", kid: await kidOf(pair.publicKey) });
      for (const secret of ["d", "p", "q", "dp", "dq", "qi"]) expect(keys[0]).not.toHaveProperty(secret);
      await verifiesAgainst(svc, await SigningKeys.load({ key_file: new Secret(pem), previous_key_files: [] }, unusedStore()));
      expect(svc.logText()).not.toContain(pem.split("\n")[1]);
    } finally {
      await svc.stop();
    }
  });

  it.each([
    ["RSA 1024", pkcs8(KEYS.rsa1024.privateKey), /^signing\.key_file: an RSA key of 1024 bits: RS256 needs 2048 bits or more$/],
    ["EC P-384", pkcs8(KEYS.p384.privateKey), /^signing\.key_file: an EC key on curve secp384r1: only P-256 \(ES256\) is supported$/],
    ["garbage", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n", /^signing\.key_file: not an unencrypted PEM private key/],
    ["a public key", KEYS.p256.publicKey.export({ type: "spki", format: "pem" }) as string, /^signing\.key_file: not an unencrypted PEM private key/],
  ])("%s is refused at start: one line naming signing.key_file, without the key", async (_name, pem, message) => {
    const line = await startError({ signing: { key_file: keyFile(pem) } });
    expect(line).toMatch(message);
    expect(line).not.toContain(pem.split("\n")[1]);
  });

  it("a previous key that is not one is refused naming its place in the list", async () => {
    const line = await startError({ signing: { previous_key_files: [keyFile(pkcs8(KEYS.ed25519.privateKey)), keyFile("not a key")] } });
    expect(line).toMatch(/^signing\.previous_key_files\[1\]: not an unencrypted PEM private or public key/);
  });

  it("previous_key_files are published after the current key (private or public PEM), once each; their SETs still verify", async () => {
    const current = pkcs8(KEYS.p256.privateKey);
    const previous = [pkcs8(KEYS.rsa2048.privateKey), KEYS.ed25519.publicKey.export({ type: "spki", format: "pem" }) as string, current];
    const svc = await startTestService({}, { signing: { key_file: keyFile(current), previous_key_files: previous.map(keyFile) } });
    try {
      const keys = await jwks(svc.baseUrl);
      expect(keys.map((k) => [k.kid, k.alg])).toEqual([
        [await kidOf(KEYS.p256.publicKey), "ES256"],
        [await kidOf(KEYS.rsa2048.publicKey), "RS256"],
        [await kidOf(KEYS.ed25519.publicKey), "EdDSA"],
      ]);
      // A SET signed before the rotation, with the old key, verifies against the published set.
      const old = await SigningKeys.load({ key_file: new Secret(previous[0]!), previous_key_files: [] }, unusedStore());
      const token = await old.sign({ iss: svc.baseUrl, jti: "old" });
      const { protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(`${svc.baseUrl}/jwks.json`)), { typ: "secevent+jwt" });
      expect(protectedHeader).toEqual({ alg: "RS256", kid: await kidOf(KEYS.rsa2048.publicKey), typ: "secevent+jwt" });
    } finally {
      await svc.stop();
    }
  });
});

describe("a key made on first start", () => {
  it("SQLite: an RSA 2048 key (RS256) in <data_dir>/signing-key.pem, 0600, the same after a restart", async () => {
    const dataDir = tempDir();
    const start = () => startService(parseConfig({}, { port: 0, dataDir }), createLogger("silent"));
    const first = await start();
    const baseUrl = `http://127.0.0.1:${first.server.port}`;
    let kid: string | undefined;
    try {
      const [key] = await jwks(baseUrl);
      expect(key).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig", e: "AQAB" });
      expect(Buffer.from(key!.n!, "base64url")).toHaveLength(256);
      kid = key!.kid;
      const file = join(dataDir, "signing-key.pem");
      expect(statSync(file).mode & 0o777).toBe(0o600);
      // The kept key is the one published: a SET signed with it verifies.
      await verifiesAgainst({ baseUrl }, await SigningKeys.load({ previous_key_files: [] }, new SigningKeyFile(file)));
    } finally {
      await first.stop();
    }
    const second = await start();
    try {
      expect((await jwks(`http://127.0.0.1:${second.server.port}`)).map((k) => k.kid)).toEqual([kid]);
    } finally {
      await second.stop();
    }
  });

  it.skipIf(postgresSkip !== undefined)("PostgreSQL: replicas starting at once sign with one key, kept in signing_keys", async () => {
    const schema = freshSchema();
    const replicas: TestService[] = [];
    try {
      await withClient((c) => c.query(`CREATE SCHEMA ${schema}`));
      replicas.push(...(await Promise.all([1, 2].map(() => startTestService({}, { store: storeUrl(schema) })))));
      const kids = await Promise.all(replicas.map(async (r) => (await jwks(r.baseUrl)).map((k) => k.kid)));
      expect(kids[0]).toHaveLength(1);
      expect(kids[1]).toEqual(kids[0]);
      expect(await withClient(async (c) => (await c.query("SELECT name FROM signing_keys")).rows, schema)).toEqual([{ name: "generated" }]);
    } finally {
      await Promise.all(replicas.map((r) => r.stop()));
      await dropSchema(schema);
    }
  });
});

/** A store that is never asked: signing.key_file is set. */
function unusedStore(): SigningKeyFile {
  return new SigningKeyFile(join(tempDir(), "never-made.pem"));
}
