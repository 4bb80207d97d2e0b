import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";

/** The JWS algorithm of each kind of key this service signs with. */
export type SigningAlg = "ES256" | "RS256" | "EdDSA";

/** A key that cannot sign SETs here: one line naming where it came from, never the key. */
export class SigningKeyError extends Error {
  constructor(readonly source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = "SigningKeyError";
  }
}

const KINDS = "an EC P-256, RSA (2048 bits or more) or Ed25519 key";

/** A PEM private key and its algorithm: EC P-256 -> ES256, RSA of 2048 bits or more -> RS256, Ed25519 -> EdDSA. */
export function privateSigningKey(pem: string, source: string): { key: KeyObject; alg: SigningAlg } {
  const key = parsed(() => createPrivateKey({ key: pem, format: "pem" }), source, "private");
  return { key, alg: algOf(key, source) };
}

/** The public half of a key of an earlier rotation, given as its private or its public key in PEM. */
export function publicSigningKey(pem: string, source: string): { key: KeyObject; alg: SigningAlg } {
  const key = parsed(() => createPublicKey({ key: pem, format: "pem" }), source, "private or public");
  return { key, alg: algOf(key, source) };
}

function parsed(parse: () => KeyObject, source: string, which: string): KeyObject {
  try {
    return parse();
  } catch {
    // Node's message is left out: it could quote the input.
    throw new SigningKeyError(source, `not an unencrypted PEM ${which} key (${KINDS})`);
  }
}

function algOf(key: KeyObject, source: string): SigningAlg {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "ec":
      if (details.namedCurve === "prime256v1") return "ES256";
      throw new SigningKeyError(source, `an EC key on curve ${details.namedCurve ?? "unknown"}: only P-256 (ES256) is supported`);
    case "rsa":
      if ((details.modulusLength ?? 0) >= 2048) return "RS256";
      throw new SigningKeyError(source, `an RSA key of ${details.modulusLength ?? 0} bits: RS256 needs 2048 bits or more`);
    case "ed25519":
      return "EdDSA";
    default:
      throw new SigningKeyError(source, `a key of type ${key.asymmetricKeyType ?? "unknown"}: use ${KINDS}`);
  }
}
