import { createPublicKey, type KeyObject } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, SignJWT, type JWK } from "jose";
import type { Secret } from "../config/secret.js";
import type { SigningKeyStore } from "../store/store.js";
import { privateSigningKey, publicSigningKey, type SigningAlg } from "./signing-key-kind.js";

/** `signing:` of the configuration. */
export interface SigningSettings {
  key_file?: Secret | undefined;
  previous_key_files: readonly Secret[];
}

/** A key as /jwks.json publishes it (RFC 7517), its kid the RFC 7638 thumbprint. */
export type PublishedJwk = JWK & { kid: string; alg: SigningAlg; use: "sig" };

/**
 * The key SETs are signed with, and the keys receivers verify them with. The private key stays
 * in this object: nothing it answers, logs or throws holds it.
 */
export class SigningKeys {
  private constructor(
    private readonly key: KeyObject,
    private readonly header: { alg: SigningAlg; kid: string; typ: "secevent+jwt" },
    private readonly published: readonly PublishedJwk[],
  ) {}

  /**
   * signing.key_file, else the key kept with the store (RSA 2048, RS256, as the CAEP
   * interoperability profile asks, made on first start); signing.previous_key_files are published too.
   */
  static async load(settings: SigningSettings, store: SigningKeyStore): Promise<SigningKeys> {
    const current = settings.key_file
      ? privateSigningKey(settings.key_file.reveal(), "signing.key_file")
      : privateSigningKey(await store.signingKey(generateRs256), store.location);
    const currentJwk = await publish(createPublicKey(current.key), current.alg);
    const previous = await Promise.all(
      settings.previous_key_files.map((file, i) => {
        const { key, alg } = publicSigningKey(file.reveal(), `signing.previous_key_files[${i}]`);
        return publish(key, alg);
      }),
    );
    // One entry per kid: a previous key that is the current one is published once.
    const published = [...new Map([currentJwk, ...previous].map((jwk) => [jwk.kid, jwk])).values()];
    return new SigningKeys(current.key, { alg: current.alg, kid: currentJwk.kid, typ: "secevent+jwt" }, published);
  }

  /** The JWK Set of /jwks.json: the current key first, then those of earlier rotations. */
  jwks(): { keys: PublishedJwk[] } {
    return { keys: [...this.published] };
  }

  /** A SET (RFC 8417): the claims signed as a compact JWS with the header {alg, kid, typ: "secevent+jwt"}. */
  sign(claims: Record<string, unknown>): Promise<string> {
    return new SignJWT(claims).setProtectedHeader(this.header).sign(this.key);
  }
}

async function publish(publicKey: KeyObject, alg: SigningAlg): Promise<PublishedJwk> {
  const jwk = await exportJWK(publicKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: "sig" };
}

async function generateRs256(): Promise<string> {
  const { privateKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
  return exportPKCS8(privateKey);
}
