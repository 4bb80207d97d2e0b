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
});
