import { generateKeyPairSync } from "node:crypto";
import { join } from "node:path";
import { createRemoteJWKSet, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Secret } from "../../src/config/secret.js";
import { SigningKeys } from "../../src/notify/signing-keys.js";
import { SigningKeyFile } from "../../src/store/signing-key-file.js";
import { startTestService, type TestService } from "../helpers/service.js";

const SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";

async function getJson(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe("SSF transmitter metadata and /jwks.json (no key needed)", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService();
  });
  afterAll(async () => {
    await svc.stop();
  });

  it("GET /.well-known/ssf-configuration answers SSF 1.0 §7.1 metadata; public_url defaults to http://<host>:<port>", async () => {
    const { status, headers, body } = await getJson(`${svc.baseUrl}/.well-known/ssf-configuration`);
    expect(status).toBe(200);
    expect(headers.get("content-type")).toBe("application/json");
    const issuer = `http://127.0.0.1:${svc.port}`;
    expect(body).toEqual({
      spec_version: "1_0",
      issuer,
      jwks_uri: `${issuer}/jwks.json`,
      delivery_methods_supported: ["urn:ietf:rfc:8935"],
      configuration_endpoint: `${issuer}/ssf/stream`,
      status_endpoint: `${issuer}/ssf/status`,
      verification_endpoint: `${issuer}/ssf/verify`,
      authorization_schemes: [{ spec_urn: "urn:ietf:rfc:6749" }],
      default_subjects: "ALL",
    });
  });

  it("a SET signed with the service's key verifies against the jwks_uri of its metadata, typ secevent+jwt", async () => {
    const { body: metadata } = await getJson(`${svc.baseUrl}/.well-known/ssf-configuration`);
    const keys = await SigningKeys.load({ previous_key_files: [] }, new SigningKeyFile(join(svc.dataDir, "signing-key.pem")));
    const issuer = metadata["issuer"] as string;
    const claims = { iss: issuer, jti: "4d3559ec67504aaba65d40b0363faad8", iat: 1_750_000_000, aud: "https://rx.example", txn: "t1", sub_id: { format: "opaque", id: "u1" }, events: { [SESSION_REVOKED]: { event_timestamp: 1_750_000_000 } } };
    const token = await keys.sign(claims);
    const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(metadata["jwks_uri"] as string)), { typ: "secevent+jwt", issuer, audience: "https://rx.example" });
    expect(payload).toEqual(claims);
    const { body: jwks } = await getJson(metadata["jwks_uri"] as string);
    const [published] = jwks["keys"] as Record<string, unknown>[];
    expect(protectedHeader).toEqual({ alg: "RS256", kid: published!["kid"], typ: "secevent+jwt" });
    // A token of another key, or a JWT without the SET's typ, does not verify.
    const otherPem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    const other = await SigningKeys.load({ key_file: new Secret(otherPem), previous_key_files: [] }, new SigningKeyFile(join(svc.dataDir, "unused.pem")));
    const remote = createRemoteJWKSet(new URL(metadata["jwks_uri"] as string));
    await expect(jwtVerify(await other.sign(claims), remote)).rejects.toThrow(/no applicable key/);
    await expect(jwtVerify(token, remote, { typ: "JWT" })).rejects.toThrow(/typ/);
  });

  it("other methods are 405 with Allow, and need no key", async () => {
    for (const path of ["/jwks.json", "/.well-known/ssf-configuration"]) {
      const { status, headers, body } = await getJson(`${svc.baseUrl}${path}`, { method: "POST", body: "{}" });
      expect([path, status, headers.get("allow")]).toEqual([path, 405, "GET"]);
      expect(body).toEqual({ err: "METHOD_NOT_ALLOWED", description: `${path} takes GET` });
    }
  });
});

describe("public_url", () => {
  it("is the issuer and the base of every endpoint, without its trailing slash", async () => {
    const svc = await startTestService({}, { public_url: "https://sc.example/" });
    try {
      const { body } = await getJson(`${svc.baseUrl}/.well-known/ssf-configuration`);
      expect(body).toMatchObject({
        issuer: "https://sc.example",
        jwks_uri: "https://sc.example/jwks.json",
        configuration_endpoint: "https://sc.example/ssf/stream",
        status_endpoint: "https://sc.example/ssf/status",
        verification_endpoint: "https://sc.example/ssf/verify",
      });
    } finally {
      await svc.stop();
    }
  });
});
