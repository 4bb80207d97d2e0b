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
