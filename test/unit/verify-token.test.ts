import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ASYMMETRIC_ALGORITHMS, type TrustedIssuerSettings } from "../../src/auth/trusted-issuer.js";
import { TokenRefused, TokenVerifier } from "../../src/auth/verify-token.js";
import { TestIdp } from "../helpers/test-idp.js";

const AUD = "https://sc.example";

function entry(idp: TestIdp, over: Partial<TrustedIssuerSettings> = {}): TrustedIssuerSettings {
  return { issuer: idp.issuer, jwksUri: idp.jwksUri, jwksCooldownMs: 0, algorithms: [...ASYMMETRIC_ALGORITHMS], ...over };
}

async function refusal(p: Promise<unknown>): Promise<TokenRefused> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TokenRefused);
  return err as TokenRefused;
}

describe("TokenVerifier", () => {
  it("accepts a token of a trusted issuer and names each failed check without the token", async () => {
    const idp = await TestIdp.start();
    const verifier = new TokenVerifier([entry(idp)]);
    const checks = () => ({ audience: AUD });
    const ok = await verifier.verify(await idp.sign({ sub: "u-1", aud: AUD }), checks);
    expect(ok.payload.sub).toBe("u-1");
    const cases: [string, Promise<string>][] = [
      ["audience", idp.sign({ aud: "https://other.example" })],
      ["expired", idp.sign({ aud: AUD }, { issuedAtOffset: -1000, expiresIn: 100 })],
      ["algorithm", idp.signHs256({ aud: AUD })],
      ["malformed", Promise.resolve("not.a.jwt")],
      ["not_yet_valid", idp.sign({ aud: AUD, nbf: Math.floor(Date.now() / 1000) + 600 })],
    ];
    for (const [check, token] of cases) {
      const t = await token;
      const err = await refusal(verifier.verify(t, checks));
      expect(err.check, check).toBe(check);
      expect(err.message).not.toContain(t);
    }
    const other = await TestIdp.start("https://unknown.example");
    expect((await refusal(verifier.verify(await other.sign({ aud: AUD }), checks))).check).toBe("issuer");
  });

  it("refuses a forged signature and a key the issuer never published, then accepts it once the JWKS shows it", async () => {
    const idp = await TestIdp.start();
    const verifier = new TokenVerifier([entry(idp)]);
    const checks = () => ({ audience: AUD });
    const good = await idp.sign({ aud: AUD });
    const [h, , signature] = good.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ iss: idp.issuer, aud: AUD, sub: "admin", exp: 4_000_000_000 })).toString("base64url")}.${signature}`;
    expect((await refusal(verifier.verify(forged, checks))).check).toBe("signature");
    const rotated = await idp.addKey("RS256", false);
    const token = await idp.sign({ aud: AUD }, { kid: rotated });
    expect((await refusal(verifier.verify(token, checks))).check).toBe("key");
    idp.publish(rotated);
    expect((await verifier.verify(token, checks)).payload.aud).toBe(AUD);
  });

  it("refetches a JWKS at most once per cooldown for unknown key ids", async () => {
    const idp = await TestIdp.start();
    const verifier = new TokenVerifier([entry(idp, { jwksCooldownMs: 60_000 })]);
    await verifier.verify(await idp.sign({ aud: AUD }), () => ({ audience: AUD }));
    const rotated = await idp.addKey("ES256", false);
    for (let i = 0; i < 5; i++) await refusal(verifier.verify(await idp.sign({ aud: AUD }, { kid: rotated }), () => ({ audience: AUD })));
    expect(idp.jwksFetches).toBe(1);
  });

  it("reads a JWKS file, again on an unknown key id", async () => {
    const idp = await TestIdp.start();
    const path = idp.writeJwks(join(mkdtempSync(join(tmpdir(), "jwks-")), "jwks.json"));
    const verifier = new TokenVerifier([{ issuer: idp.issuer, jwksFile: path, jwksCooldownMs: 0, algorithms: ["ES256", "EdDSA"] }]);
    // Calls at the same time share the first read of the file.
    const concurrent = new TokenVerifier([{ issuer: idp.issuer, jwksFile: path, jwksCooldownMs: 60_000, algorithms: ["ES256"] }]);
    const token = await idp.sign({ aud: AUD });
    expect((await Promise.all(Array.from({ length: 20 }, () => concurrent.verify(token, () => ({ audience: AUD }))))).map((r) => r.issuer.issuer)).toEqual(Array(20).fill(idp.issuer));
    await verifier.verify(await idp.sign({ aud: AUD }), () => ({ audience: AUD }));
    const kid = await idp.addKey("EdDSA");
    idp.writeJwks(path);
    expect((await verifier.verify(await idp.sign({ aud: AUD }, { kid }), () => ({ audience: AUD }))).issuer.issuer).toBe(idp.issuer);
    const rsa = await idp.addKey("RS256");
    idp.writeJwks(path);
    expect((await refusal(verifier.verify(await idp.sign({ aud: AUD }, { kid: rsa }), () => ({ audience: AUD })))).check).toBe("algorithm");
  });

  it("refuses Security Event Tokens where asked, and a jti that is not a string of 1 to 255 characters", async () => {
    const idp = await TestIdp.start();
    const verifier = new TokenVerifier([entry(idp)]);
    const request = () => ({ audience: AUD, requiredClaims: ["jti"], refuseSecurityEvents: true });
    expect((await refusal(verifier.verify(await idp.sign({ aud: AUD }, { typ: "secevent+jwt" }), request))).check).toBe("type");
    expect((await refusal(verifier.verify(await idp.sign({ aud: AUD }, { typ: "application/secevent+jwt" }), request))).check).toBe("type");
    expect((await refusal(verifier.verify(await idp.sign({ aud: AUD, events: {} }), request))).check).toBe("type");
    for (const jti of [7, "", "j".repeat(256), { a: 1 }]) expect((await refusal(verifier.verify(await idp.sign({ aud: AUD, jti: jti as string }), request))).check, JSON.stringify(jti)).toBe("claims");
    expect((await verifier.verify(await idp.sign({ aud: AUD, jti: "j".repeat(255) }), request)).payload.jti).toHaveLength(255);
  });

  it("holds typ, iat age and exp lifetime when asked, and reports keys it cannot fetch as unavailable", async () => {
    const idp = await TestIdp.start();
    const verifier = new TokenVerifier([entry(idp)]);
    const strict = () => ({ audience: AUD, typ: "secevent+jwt", maxAgeSec: 300, maxLifetimeSec: 300, requiredClaims: ["jti"] });
    expect((await refusal(verifier.verify(await idp.sign({ aud: AUD }), strict))).check).toBe("type");
    expect((await refusal(verifier.verify(await idp.sign({ aud: AUD }, { typ: "secevent+jwt", issuedAtOffset: -600, expiresIn: 900 }), strict))).check).toBe("expired");
    expect((await refusal(verifier.verify(await idp.sign({ aud: AUD }, { typ: "secevent+jwt", expiresIn: 3600 }), strict))).check).toBe("claims");
    expect((await verifier.verify(await idp.sign({ aud: AUD }, { typ: "secevent+jwt" }), strict)).payload.aud).toBe(AUD);
    const token = await idp.sign({ aud: AUD });
    await idp.close();
    const cold = new TokenVerifier([entry(idp)]);
    expect((await refusal(cold.verify(token, () => ({ audience: AUD })))).check).toBe("keys_unavailable");
  });
});
