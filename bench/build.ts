import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import ts from "typescript";

/** The project root (bench/..). */
export const ROOT = join(import.meta.dirname, "..");
/**
 * Where the transpiled JavaScript goes: gitignored, inside the project so that node_modules
 * resolves, and one directory per run so that two runs at once do not pull files from each other.
 */
export const JS_DIR = join(ROOT, "bench", "results", "tmp", `js-${process.pid}`);

const SOURCES = ["src", "gen", "bench"];

/**
 * Transpiles src/, gen/ and bench/ to plain JavaScript (no type check), so that every child
 * process runs on bare `node`: a tsx loader in a server would add ~45 MB of RSS and a loader
 * thread that the service does not have in production (`npm start` runs compiled JS too).
 */
export function transpileAll(): { files: number; ms: number } {
  const start = performance.now();
  rmSync(JS_DIR, { recursive: true, force: true });
  let files = 0;
  for (const dir of SOURCES) {
    for (const file of tsFiles(join(ROOT, dir))) {
      const out = join(JS_DIR, relative(ROOT, file)).replace(/\.ts$/, ".js");
      const { outputText } = ts.transpileModule(readFileSync(file, "utf8"), {
        fileName: file,
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ES2022,
          verbatimModuleSyntax: true,
          sourceMap: false,
        },
      });
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, outputText);
      files++;
    }
  }
  return { files, ms: Math.round(performance.now() - start) };
}

export function removeTranspiled(): void {
  rmSync(JS_DIR, { recursive: true, force: true });
}

/** The transpiled path of a bench module, e.g. jsPath("bench/servers/raw-http2.ts"). */
export function jsPath(tsPath: string): string {
  return join(JS_DIR, tsPath.replace(/\.ts$/, ".js"));
}

function* tsFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (path !== join(ROOT, "bench", "results")) yield* tsFiles(path);
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) yield path;
  }
}
