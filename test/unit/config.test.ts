import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/load.js";

const dir = mkdtempSync(join(tmpdir(), "sc-config-"));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
function problems(path: string | undefined): string[] {
  try {
    loadConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("configuration", () => {
  it("has working defaults with no file", () => {
    const c = loadConfig(undefined);
    expect(c.server).toMatchObject({ host: "127.0.0.1", port: 8080, read_max_bytes: 4 * 1024 * 1024 });
    expect(c.data_dir).toBe("./data");
    expect(c.api_keys).toBeUndefined();
    expect(c.limits).toEqual({ failed_auth_per_address: 30, wrong_tokens_per_session: 10, wrong_tokens_per_principal: 1000, window_ms: 60_000 });
    expect(c.audit).toEqual({ retention_days: 90 });
  });

  it("reads YAML and JSON, and command-line flags win", () => {
    const y = file("a.yaml", "server:\n  port: 9000\n  host: 0.0.0.0\ndata_dir: /var/lib/sc\n");
    expect(loadConfig(y).server.port).toBe(9000);
    expect(loadConfig(y, { port: 1234, host: "::1", dataDir: "/d" })).toMatchObject({ server: { port: 1234, host: "::1" }, data_dir: "/d" });
    const j = file("a.json", JSON.stringify({ api_keys: [{ name: "ops", sha256: "a".repeat(64), permissions: ["session.delete"] }] }));
    expect(loadConfig(j).api_keys?.[0]).toMatchObject({ name: "ops", permissions: ["session.delete"] });
  });

  it("names the key of every mistake, one line each", () => {
    const bad = file(
      "bad.yaml",
      ["server:", "  prot: 1", "  port: -3", "api_keys:", "  - name: x", "    sha256: abc", "    permissions: [session.nuke]", "extra: 1"].join("\n"),
    );
    const lines = problems(bad);
    expect(lines).toHaveLength(5);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^server: unknown key "prot"/),
        expect.stringMatching(/^server\.port: /),
        expect.stringMatching(/^api_keys\[0\]\.sha256: must be/),
        expect.stringMatching(/^api_keys\[0\]\.permissions\[0\]: /),
        expect.stringMatching(/^\(top level\): unknown key "extra"/),
      ]),
    );
  });

  it("refuses unreadable, unparsable and non-mapping files", () => {
    expect(problems(join(dir, "missing.yaml"))[0]).toMatch(/cannot read the configuration file \(ENOENT\)/);
    expect(problems(file("junk.yaml", "server: [1, 2\n"))[0]).toMatch(/not valid YAML or JSON/);
    expect(problems(file("list.yaml", "- 1\n- 2\n"))[0]).toMatch(/must be a mapping/);
  });

  it("refuses a delivery lease no longer than a delivery's request, and a public_url with a path", () => {
    const lease = file("lease.json", JSON.stringify({ notifications: { lease_ms: 10_000, request_timeout_ms: 10_000 } }));
    expect(problems(lease)).toEqual([expect.stringMatching(/^notifications\.lease_ms: must be longer than notifications\.request_timeout_ms \(10000\)/)]);
    expect(problems(file("lease-ok.json", JSON.stringify({ notifications: { lease_ms: 10_001, request_timeout_ms: 10_000 } })))).toEqual([]);
    expect(problems(file("url.json", JSON.stringify({ public_url: "https://sc.example/base" })))).toEqual([expect.stringMatching(/^public_url: must be an origin/)]);
    expect(problems(file("url-ok.json", JSON.stringify({ public_url: "https://sc.example" })))).toEqual([]);
  });

  it("checks GTR callers and SSF transmitters: one key source, asymmetric algorithms only, distinct issuers", () => {
    const jwks = file("jwks.json", JSON.stringify({ keys: [] }));
    const caller = { issuer: "https://idp.example", jwks_uri: "https://idp.example/keys" };
    const ok = loadConfig(file("in-ok.json", JSON.stringify({ gtr: { callers: [caller] }, ssf: { transmitters: [{ issuer: "https://tx.example", jwks_file: jwks, events: { credential_change: "terminate_user" } }] } })));
    expect(ok.gtr.callers[0]).toMatchObject({ jwks_cooldown_ms: 30_000, algorithms: expect.arrayContaining(["RS256", "ES256", "EdDSA"]) });
    expect(ok.ssf.transmitters[0]!.events).toEqual({ session_revoked: "terminate_user", credential_change: "terminate_user", account_disabled: "terminate_user", account_purged: "terminate_user", sessions_revoked: "terminate_user" });
    expect(ok.ssf.max_event_age_ms).toBe(7 * 24 * 3_600_000);
    const lines = problems(
      file(
        "in-bad.json",
        JSON.stringify({
          gtr: { callers: [{ ...caller, algorithms: ["HS256"] }, { issuer: "https://b.example" }, { issuer: "https://c.example", jwks_uri: "https://c.example/k", jwks_file: jwks }, { ...caller, required_scope: "two words" }] },
          ssf: { transmitters: [{ issuer: "https://tx.example", jwks_file: join(dir, "none.json"), events: { session_revoked: "log" } }] },
        }),
      ),
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^gtr\.callers\[0\]\.algorithms\[0\]: must be an asymmetric algorithm \(none and HS\* are never accepted\)/),
        expect.stringMatching(/^gtr\.callers\[1\]\.jwks_uri: give exactly one of jwks_uri and jwks_file/),
        expect.stringMatching(/^gtr\.callers\[2\]\.jwks_uri: give exactly one of jwks_uri and jwks_file/),
        expect.stringMatching(/^gtr\.callers\[3\]\.required_scope: must be one scope token/),
        expect.stringMatching(/^ssf\.transmitters\[0\]\.jwks_file: must be a readable JSON Web Key Set file/),
        expect.stringMatching(/^ssf\.transmitters\[0\]\.events\.session_revoked: /),
      ]),
    );
    expect(problems(file("in-dup.json", JSON.stringify({ gtr: { callers: [caller, caller] } })))).toEqual([expect.stringMatching(/^gtr\.callers: two callers have the same issuer/)]);
    // Keys fetched over plain http could be changed on the way (loopback aside); a cooldown under 1 s lets anonymous tokens drive fetches.
    const fetching = [{ ...caller, jwks_uri: "http://idp.example/keys" }, { ...caller, issuer: "https://b.example", jwks_cooldown_ms: 999 }, { issuer: "https://c.example", jwks_uri: "http://127.0.0.1:9/keys", jwks_cooldown_ms: 1000 }];
    expect(problems(file("in-fetch.json", JSON.stringify({ gtr: { callers: fetching } })))).toEqual([
      expect.stringMatching(/^gtr\.callers\[0\]\.jwks_uri: must be an https:\/\/ URL \(http:\/\/ only for a loopback host\)/),
      expect.stringMatching(/^gtr\.callers\[1\]\.jwks_cooldown_ms: /),
    ]);
  });

  it("refuses two keys with the same hash", () => {
    const k = { name: "a", sha256: "b".repeat(64) };
    expect(problems(file("dup.json", JSON.stringify({ api_keys: [k, { ...k, name: "c" }] })))[0]).toMatch(/^api_keys: two keys have the same sha256/);
  });

  it("defaults to the embedded store as the one provider, and checks providers", () => {
    const c = loadConfig(undefined);
    expect(c.providers.map((p) => [p.name, p.type, p.timeout_ms])).toEqual([["local", "local", 5000]]);
    expect(c.default_provider).toBeUndefined();
    expect(problems(file("p1.json", JSON.stringify({ providers: [{ name: "x", type: "nope" }] })))[0]).toMatch(/^providers\[0\]\.type: /);
    expect(problems(file("p2.json", JSON.stringify({ providers: [{ name: "a", type: "local" }, { name: "a", type: "local" }] })))).toEqual([
      "providers: two providers have the same name",
    ]);
    expect(problems(file("p3.json", JSON.stringify({ providers: [{ name: "a", type: "local" }], default_provider: "b" })))).toEqual([
      'default_provider: no provider is named "b"; configured: a',
    ]);
    expect(problems(file("p4.json", JSON.stringify({ providers: [{ name: "a", type: "local", timeout_ms: 0 }] })))[0]).toMatch(/^providers\[0\]\.timeout_ms: /);
  });

  describe("auth.jwt_issuers", () => {
    const jwks = file("jwks.json", JSON.stringify({ keys: [] }));
    const issuers = (...entries: unknown[]) => problems(file("jwt.json", JSON.stringify({ auth: { jwt_issuers: entries } })));

    it("are none by default; an entry gets its defaults", () => {
      expect(loadConfig(undefined).auth).toEqual({ jwt_issuers: [] });
      const c = loadConfig(file("jwt-ok.json", JSON.stringify({ auth: { jwt_issuers: [{ issuer: "https://idp.example", jwks_uri: "https://idp.example/jwks" }] } })));
      expect(c.auth.jwt_issuers[0]).toEqual({
        issuer: "https://idp.example",
        jwks_uri: "https://idp.example/jwks",
        jwks_cooldown_ms: 30_000,
        algorithms: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"],
        principal_claim: "sub",
        user_id_claim: "sub",
        permissions_claim: "permissions",
      });
      const z = { issuer: "https://z.example", jwks_file: jwks, audience: "project-1", permissions_claim: "urn:zitadel:iam:org:project:roles", permission_map: { admin: ["session.delete"] } };
      expect(loadConfig(file("jwt-z.json", JSON.stringify({ auth: { jwt_issuers: [z] } }))).auth.jwt_issuers[0]).toMatchObject({ ...z, audience: ["project-1"] });
    });

    it("refuse HS256 and none, both or neither of jwks_uri and jwks_file, one line naming the key", () => {
      expect(issuers({ issuer: "https://idp.example", jwks_uri: "https://idp.example/jwks", algorithms: ["RS256", "HS256"] })).toEqual([expect.stringMatching(/^auth\.jwt_issuers\[0\]\.algorithms\[1\]: /)]);
      expect(issuers({ issuer: "https://idp.example", jwks_uri: "https://idp.example/jwks", algorithms: ["none"] })).toEqual([expect.stringMatching(/^auth\.jwt_issuers\[0\]\.algorithms\[0\]: /)]);
      expect(issuers({ issuer: "https://idp.example", jwks_uri: "https://idp.example/jwks", jwks_file: jwks })).toEqual(["auth.jwt_issuers[0].jwks_uri: give exactly one of jwks_uri and jwks_file"]);
      expect(issuers({ issuer: "https://idp.example" })).toEqual(["auth.jwt_issuers[0].jwks_uri: give exactly one of jwks_uri and jwks_file"]);
      expect(issuers({ issuer: "https://idp.example", jwks_file: join(dir, "missing-jwks.json") })).toEqual([expect.stringMatching(/^auth\.jwt_issuers\[0\]\.jwks_file: must be a readable JSON Web Key Set file/)]);
    });

    it("refuse an issuer listed twice, an issuer or API key name with #, unknown permissions in permission_map and unknown keys", () => {
      const e = { issuer: "https://idp.example", jwks_file: jwks };
      expect(issuers(e, e)).toEqual(["auth.jwt_issuers: two entries have the same issuer"]);
      expect(issuers({ ...e, issuer: "https://idp.example#x" })).toEqual([expect.stringMatching(/^auth\.jwt_issuers\[0\]\.issuer: must not contain "#"/)]);
      expect(issuers({ ...e, permission_map: { admin: ["session.nuke"] } })).toEqual([expect.stringMatching(/^auth\.jwt_issuers\[0\]\.permission_map\.admin\[0\]: /)]);
      expect(issuers({ ...e, audience: [] })).toEqual([expect.stringMatching(/^auth\.jwt_issuers\[0\]\.audience: /)]);
      expect(issuers({ ...e, scope_claim: "scope" })).toEqual(['auth.jwt_issuers[0]: unknown key "scope_claim"']);
      expect(problems(file("auth-x.json", JSON.stringify({ auth: { callers: [] } })))).toEqual(['auth: unknown key "callers"']);
      expect(problems(file("key-hash.json", JSON.stringify({ api_keys: [{ name: "https://idp.example#alice", sha256: "c".repeat(64) }] })))).toEqual([
        expect.stringMatching(/^api_keys\[0\]\.name: must not contain "#"/),
      ]);
    });
  });
});
