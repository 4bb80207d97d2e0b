import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

/** Files that every protoc ships with (its include/ directory), so `proto/` need not hold them. */
const WELL_KNOWN = new Set(
  ["any", "api", "descriptor", "duration", "empty", "field_mask", "source_context", "struct", "timestamp", "type", "wrappers", "compiler/plugin"].map((n) => `google/protobuf/${n}.proto`),
);

/** The import roots: the module paths of buf.yaml, all of them under proto/. */
const roots = (parseYaml(readFileSync("buf.yaml", "utf8")) as { modules: { path: string }[] }).modules.map((m) => m.path);

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? protoFiles(join(dir, e.name)) : e.name.endsWith(".proto") ? [join(dir, e.name)] : []));
}

function imports(file: string): string[] {
  return [...readFileSync(file, "utf8").matchAll(/^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm)].map((m) => m[1]!);
}

describe("proto/ alone generates complete clients", () => {
  it("has its import roots under proto/", () => {
    expect(roots.length).toBeGreaterThan(0);
    for (const root of roots) expect(relative("proto", root).startsWith("..")).toBe(false);
  });

  it("resolves every import of every .proto under proto/ to a file there or a well-known type", () => {
    const files = protoFiles("proto");
    expect(files.length).toBeGreaterThan(0);
    const unresolved = files.flatMap((file) =>
      imports(file)
        .filter((imp) => !WELL_KNOWN.has(imp) && !roots.some((root) => existsSync(join(root, imp))))
        .map((imp) => `${file}: ${imp}`),
    );
    expect(unresolved).toEqual([]);
  });

  it("declares every message a client needs to read error details", () => {
    const declared = protoFiles("proto").flatMap((file) => {
      const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(readFileSync(file, "utf8"))?.[1] ?? "";
      return [...readFileSync(file, "utf8").matchAll(/^message\s+(\w+)/gm)].map((m) => `${pkg}.${m[1]}`);
    });
    // grpc-status-details-bin is a google.rpc.Status whose details hold these.
    expect(declared).toEqual(expect.arrayContaining(["google.rpc.Status", "google.rpc.ErrorInfo", "google.rpc.RetryInfo", "google.rpc.BadRequest"]));
  });

  it("compiles with buf, every dependency of every file included", async () => {
    const { stdout } = await promisify(execFile)("npx", ["buf", "build", "-o", "-#format=json"], { maxBuffer: 64 * 1024 * 1024 });
    const image = JSON.parse(stdout) as { file: { name: string; dependency?: string[] }[] };
    const names = new Set(image.file.map((f) => f.name));
    expect(names).toContain("google/rpc/status.proto");
    expect(image.file.flatMap((f) => f.dependency ?? []).filter((d) => !names.has(d))).toEqual([]);
  });
});
