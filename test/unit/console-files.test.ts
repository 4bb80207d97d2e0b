import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { acceptsGzip, CONSOLE_LIMITS, ifNoneMatch, isConsolePath, loadConsoleBuild } from "../../src/server/console-files.js";

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function buildDir(files: Record<string, string | Buffer>): string {
  dir = mkdtempSync(join(tmpdir(), "console-files-"));
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), body);
  }
  return dir;
}

describe("the console's build, read once into memory", () => {
  it("keeps regular files of known types by their exact URL path; skips dot files, other types and symbolic links", () => {
    const d = buildDir({ "index.html": "<div id=app></div>", "assets/a-1.js": "x", "assets/a.css": "y", ".env": "SECRET=1", "notes.md": "z" });
    symlinkSync("/etc/passwd", join(d, "assets", "passwd.txt"));
    const build = loadConsoleBuild(d);
    expect("files" in build && [...build.files.keys()].sort()).toEqual(["/console/assets/a-1.js", "/console/assets/a.css", "/console/index.html"]);
  });

  it("is not served without index.html, nor past its bounds", () => {
    expect(loadConsoleBuild(buildDir({ "assets/a.js": "x" }))).toMatchObject({ missing: expect.stringContaining("no index.html") });
    rmSync(dir, { recursive: true, force: true });
    expect(loadConsoleBuild(buildDir({ "index.html": "x", "assets/big.js": Buffer.alloc(CONSOLE_LIMITS.maxFileBytes + 1) }))).toMatchObject({ missing: expect.stringContaining("larger than") });
    rmSync(dir, { recursive: true, force: true });
    const many = Object.fromEntries(Array.from({ length: CONSOLE_LIMITS.maxFiles + 1 }, (_, i) => [`assets/f${i}.js`, "x"]));
    expect(loadConsoleBuild(buildDir({ "index.html": "x", ...many }))).toMatchObject({ missing: `${dir}: more than ${CONSOLE_LIMITS.maxFiles} files` });
    rmSync(dir, { recursive: true, force: true });
    expect(loadConsoleBuild(join(tmpdir(), "no-such-console-build"))).toMatchObject({ missing: expect.stringContaining("ENOENT") });
    dir = buildDir({});
  });

  it("matches If-None-Match as a list of entity tags by weak comparison, or *", () => {
    const etag = '"abc"';
    for (const header of ['"abc"', 'W/"abc"', '"x", "abc"', '"x",W/"abc" , "y"', "*", " * "]) expect(ifNoneMatch(header, etag), header).toBe(true);
    for (const header of [undefined, "", '"abcd"', '"ab", "c"', "abc", '"abc-gz"', '"*"']) expect(ifNoneMatch(header, etag), String(header)).toBe(false);
    expect(ifNoneMatch('"abc"', 'W/"abc"')).toBe(true);
  });

  it("owns /console and the paths under it only", () => {
    expect(["/console", "/console/", "/console/audit"].every(isConsolePath)).toBe(true);
    expect(["/consoles", "/console.html", "/", "/sessioncontrol.v1.SessionControl/Terminate"].some(isConsolePath)).toBe(false);
  });

  it("takes gzip when Accept-Encoding names it or * with a weight above 0", () => {
    for (const header of ["gzip", "gzip, deflate, br", "br;q=1.0, GZIP;q=0.5", "*", "deflate, *;q=0.1"]) expect(acceptsGzip(header), header).toBe(true);
    for (const header of [undefined, "", "br", "gzip;q=0", "gzip; q=0.000", "*;q=0", "gzip;q=0, *", "identity"]) expect(acceptsGzip(header), String(header)).toBe(false);
  });
});
