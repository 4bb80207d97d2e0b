import { createPrivateKey, randomUUID, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import type { Secret } from "../config/secret.js";

/** A private key to sign JWTs with, and the JWS algorithm its kind calls for. */
export interface SigningKey {
  key: KeyObject;
  alg: string;
  /** The key id: the JWK's own `kid`, or the one configured. */
  kid?: string;
}

const EC_ALGS: Record<string, string> = { prime256v1: "ES256", secp384r1: "ES384", secp521r1: "ES512" };

/**
 * A private key given as PEM (PKCS#8 or PKCS#1) or as a JWK: RSA keys sign with RS256, EC keys
 * with the ES algorithm of their curve. Throws a message fit for a configuration error; it never
 * shows the key.
 */
export function signingKeyOf(secret: Secret, kid?: string): SigningKey {
  const text = secret.reveal().trim();
  let key: KeyObject;
  let jwkKid: string | undefined;
  try {
    if (text.startsWith("{")) {
      const jwk = JSON.parse(text) as { kid?: unknown };
      if (typeof jwk.kid === "string" && jwk.kid !== "") jwkKid = jwk.kid;
      key = createPrivateKey({ key: jwk as import("node:crypto").JsonWebKey, format: "jwk" });
    } else {
      key = createPrivateKey(text);
    }
  } catch {
    throw new Error("is not a private key in PEM (PKCS#8 or PKCS#1) or JWK form");
  }
  const alg = key.asymmetricKeyType === "rsa" ? "RS256" : key.asymmetricKeyType === "ec" ? EC_ALGS[key.asymmetricKeyDetails?.namedCurve ?? ""] : undefined;
  if (!alg) throw new Error("must be an RSA key or an EC key on P-256, P-384 or P-521");
  const id = kid ?? jwkKid;
  return { key, alg, ...(id !== undefined && { kid: id }) };
}

/**
 * An OAuth 2.0 client assertion (RFC 7523 §2.2, OpenID Connect `private_key_jwt`): `iss` and
 * `sub` the client id, `aud` the token endpoint, a fresh `jti`, valid for five minutes.
 */
export function clientAssertion(clientId: string, tokenUrl: string, k: SigningKey): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: k.alg, typ: "JWT", ...(k.kid !== undefined && { kid: k.kid }) })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenUrl)
    .setIssuedAt()
    .setExpirationTime("5m")
    .setJti(randomUUID())
    .sign(k.key);
}

/** The form field that says a client assertion is a JWT (RFC 7523 §2.2). */
export const JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/**
 * A signed assertion and the parts of it an upstream may echo alone (its claims and its
 * signature), to be cut out of the upstream's words: within its lifetime it is a credential.
 */
export function assertionParts(jwt: string): string[] {
  const [, claims, signature] = jwt.split(".");
  return [jwt, ...[claims, signature].filter((p): p is string => !!p)];
}
