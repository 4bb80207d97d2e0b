import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFileSync } from "node:fs";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { afterAll } from "vitest";

interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export interface SignOptions {
  /** Sign with this key id (default: the current key). */
  kid?: string;
  /** The JOSE header's typ (default JWT). */
  typ?: string;
  /** Seconds from now the token expires (default 300); null: no exp. */
  expiresIn?: number | null;
  /** Seconds added to now for iat (negative: issued in the past). */
  issuedAtOffset?: number;
}

const open: TestIdp[] = [];
afterAll(async () => {
  await Promise.all(open.splice(0).map((idp) => idp.close()));
});

/**
 * An identity provider in the test process: its own key pairs, its JWKS served on a local port
 * (GET /jwks.json, counted), and tokens signed as it would sign them. Closed after the test file.
 */
export class TestIdp {
  readonly keys: SigningKey[] = [];
  /** Keys signed with but not (yet) published: a rotation the JWKS does not show. */
  private readonly unpublished = new Set<string>();
  jwksFetches = 0;
  private server: Server | undefined;
  private port = 0;
  private counter = 0;

  private constructor(private readonly issuerOverride?: string) {}

  /** A started IdP with one ES256 key; its issuer is its own URL unless given. */
  static async start(issuer?: string): Promise<TestIdp> {
    const idp = new TestIdp(issuer);
    await idp.addKey("ES256");
    idp.server = createServer((req, res) => {
      if (req.url !== "/jwks.json") return void res.writeHead(404).end();
      idp.jwksFetches++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(idp.jwks()));
    });
    await new Promise<void>((resolve) => idp.server!.listen(0, "127.0.0.1", resolve));
    idp.port = (idp.server.address() as AddressInfo).port;
    open.push(idp);
    return idp;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get issuer(): string {
    return this.issuerOverride ?? this.url;
  }

  get jwksUri(): string {
    return `${this.url}/jwks.json`;
  }

  /** The published key set. */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.filter((k) => !this.unpublished.has(k.kid)).map((k) => k.jwk) };
  }

  /** Writes the published key set to a file, for `jwks_file`. */
  writeJwks(path: string): string {
    writeFileSync(path, JSON.stringify(this.jwks()));
    return path;
  }

  /** A new key that signs from now on; published unless `publish` is false. */
  async addKey(alg: "ES256" | "RS256" | "EdDSA" = "ES256", publish = true): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `key-${++this.counter}-${alg}`;
    const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
    this.keys.push({ kid, alg, privateKey: privateKey as CryptoKey, jwk });
    if (!publish) this.unpublished.add(kid);
    return kid;
  }

  /** Publishes a key added unpublished: the JWKS after a rotation. */
  publish(kid: string): void {
    this.unpublished.delete(kid);
  }

  /** A signed JWT with these claims; iss, iat, exp and jti are filled in unless given. */
  async sign(claims: JWTPayload, options: SignOptions = {}): Promise<string> {
    const key = options.kid ? this.keys.find((k) => k.kid === options.kid)! : this.keys[this.keys.length - 1]!;
    const now = Math.floor(Date.now() / 1000) + (options.issuedAtOffset ?? 0);
    const expiresIn = options.expiresIn === undefined ? 300 : options.expiresIn;
    const body: JWTPayload = { iss: this.issuer, iat: now, jti: `jti-${process.hrtime.bigint()}-${Math.random()}`, ...(expiresIn !== null && { exp: now + expiresIn }), ...claims };
    return new SignJWT(body).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: options.typ ?? "JWT" }).sign(key.privateKey);
  }

  /** A token signed with HS256 and a shared secret: never accepted from another party. */
  async signHs256(claims: JWTPayload): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: this.issuer, iat: now, exp: now + 300, ...claims }).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(new TextEncoder().encode("a-shared-secret-of-32-bytes-long!"));
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
