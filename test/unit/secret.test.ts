import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { secretRef } from "../../src/config/secret.js";

const schema = z.strictObject({ token: secretRef });
function problems(token: string): string[] {
  const r = schema.safeParse({ token });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("secret references", () => {
  it("read env:NAME and file:PATH, and never print the value", () => {
    process.env["SC_TEST_SECRET"] = "s3cr3t-from-env";
    const fromEnv = schema.parse({ token: "env:SC_TEST_SECRET" }).token;
    expect(fromEnv.reveal()).toBe("s3cr3t-from-env");
    const file = join(mkdtempSync(join(tmpdir(), "sc-secret-")), "token");
    writeFileSync(file, "s3cr3t-from-file\n");
    const fromFile = schema.parse({ token: `file:${file}` }).token;
    expect(fromFile.reveal()).toBe("s3cr3t-from-file");
    for (const s of [fromEnv, fromFile]) {
      expect(`${s}`).toBe("[secret]");
      expect(JSON.stringify({ s })).toBe('{"s":"[secret]"}');
      expect(inspect({ s })).not.toContain("s3cr3t");
    }
  });

  it("refuse a literal secret, a missing variable and an unreadable file, without echoing them", () => {
    expect(problems("plain-secret-value")).toEqual(["token: must be a reference (env:NAME or file:PATH), not the secret itself"]);
    expect(problems("plain-secret-value").join()).not.toContain("plain-secret-value");
    delete process.env["SC_TEST_MISSING"];
    expect(problems("env:SC_TEST_MISSING")).toEqual(["token: environment variable SC_TEST_MISSING is not set or empty"]);
    expect(problems("file:/nonexistent/token")).toEqual(["token: cannot read file /nonexistent/token (ENOENT)"]);
  });
});
