import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ROOT } from "../build.js";

/**
 * Throwaway experiments for the connect-es proposals in bench/PROFILE.md: writes COPIES of
 * @connectrpc/connect and @connectrpc/connect-node, changed as a proposal says, as overlays for
 * ab.ts (a variant's "overlay"; the variant's modules then resolve these copies before the
 * project's node_modules). Nothing here touches node_modules or is used by the service.
 *
 *   npx tsx bench/profile/connect-experiments.ts [--out bench/results/tmp/connect-overlays]
 *
 * Overlays written (each a directory holding node_modules/@connectrpc/...):
 *   unpatched   plain copies (to check that a copy alone changes nothing)
 *   abort       P1: context.abort() with no reason aborts with one shared ConnectError instead
 *               of a new DOMException per call (implementation.js)
 *   signals     P1 + P2: no deadline AbortController for calls without a deadline + P3: the
 *               context reuses the request's Headers instead of copying them (implementation.js)
 *               + P4: connect-node aborts a request's signal only when the exchange ends early
 *               (node-universal-handler.js)
 *   es2018      P5: native async generators instead of TypeScript's ES2017 helpers
 *               (__asyncGenerator/__await), as a build with target ES2018 or later would emit
 *   all         signals + es2018
 */
const PACKAGES = ["connect", "connect-node"] as const;

type Patch = (pkg: (typeof PACKAGES)[number], file: string, text: string) => string;

/** Replaces `from` by `to` exactly once, or fails: a patch must apply to the installed version. */
function once(text: string, from: string, to: string, where: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`${where}: expected exactly one ${JSON.stringify(from.slice(0, 60))}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

const abortPatch: Patch = (pkg, file, text) => {
  if (pkg !== "connect" || file !== "implementation.js") return text;
  text = once(
    text,
    "export function createHandlerContext(init) {",
    `// PROPOSAL P1: a call that ends normally is aborted with one shared reason, not a new DOMException.
const callEnded = new ConnectError("the call has ended", Code.Canceled);
export function createHandlerContext(init) {`,
    file,
  );
  return once(text, "abortController.abort(reason);", "abortController.abort(reason !== null && reason !== void 0 ? reason : callEnded);", file);
};

const signalsPatch: Patch = (pkg, file, text) => {
  text = abortPatch(pkg, file, text);
  if (pkg === "connect" && file === "implementation.js") {
    // P2: no deadline controller (nor its listener) when the call has no deadline.
    text = once(
      text,
      "const deadline = createDeadlineSignal(init.timeoutMs);",
      "const deadline = init.timeoutMs === undefined ? { signal: undefined, cleanup() { } } : createDeadlineSignal(init.timeoutMs);",
      file,
    );
    // P3: the universal request's Headers belong to this call already; no copy.
    text = once(text, "requestHeader: new Headers(init.requestHeader)", "requestHeader: init.requestHeader instanceof Headers ? init.requestHeader : new Headers(init.requestHeader)", file);
  }
  if (pkg === "connect-node" && file === "node-universal-handler.js") {
    // P4: abort the request's signal only when the exchange ended before the response did.
    text = once(
      text,
      `            else {
                abortController.abort();
            }`,
      `            else if (!(nodeResponse === null || nodeResponse === void 0 ? void 0 : nodeResponse.writableFinished)) {
                abortController.abort(new ConnectError("the client closed the stream before the answer", Code.Canceled));
            }`,
      file,
    );
    text = once(
      text,
      `            abortController.abort(nodeRequest.errored
                ? connectErrorFromNodeReason(nodeRequest.errored)
                : undefined);`,
      `            if (nodeRequest.errored)
                abortController.abort(connectErrorFromNodeReason(nodeRequest.errored));
            else if (!nodeResponsOrRequest.writableFinished)
                abortController.abort(new ConnectError("the client closed the connection before the answer", Code.Canceled));`,
      file,
    );
  }
  return text;
};

/**
 * P5: TypeScript's ES2017 output of an async generator is a generator driven by __asyncGenerator,
 * with `await x` written `yield __await(x)` and `yield x` written `yield yield __await(x)`. This
 * turns it back into a native async generator, as a build with target ES2018+ would emit.
 */
const es2018Patch: Patch = (_pkg, _file, text) => {
  if (!text.includes("__asyncGenerator(this, arguments, function*")) return text;
  text = text.replace(/var __asyncGenerator = [\s\S]*?\n};\n/, "var __asyncGenerator = function (thisArg, _arguments, generator) { return generator.apply(thisArg, _arguments || []); };\n");
  text = text.replace(/__asyncGenerator\(this, arguments, function\*/g, "__asyncGenerator(this, arguments, async function*");
  text = text.replace(/yield __await\(yield\* __asyncDelegator\(__asyncValues\(([^()]*)\)\)\)/g, "yield* $1");
  text = text.replace(/yield yield __await\(/g, "yield (");
  text = text.replace(/yield __await\(/g, "await (");
  if (/yield __await\(|__asyncDelegator\(__asyncValues/.test(text)) throw new Error("es2018: a down-levelled await or yield* is left");
  return text;
};

const allPatch: Patch = (pkg, file, text) => es2018Patch(pkg, file, signalsPatch(pkg, file, text));

const OVERLAYS: Record<string, Patch> = {
  unpatched: (_p, _f, t) => t,
  abort: abortPatch,
  signals: signalsPatch,
  es2018: es2018Patch,
  all: allPatch,
};

function* jsFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) yield* jsFiles(path);
    else if (entry.endsWith(".js")) yield path;
  }
}

function main(): void {
  const { values } = parseArgs({ options: { out: { type: "string", default: join(ROOT, "bench", "results", "tmp", "connect-overlays") } } });
  for (const [name, patch] of Object.entries(OVERLAYS)) {
    const dir = join(values.out, name);
    rmSync(dir, { recursive: true, force: true });
    let changed = 0;
    for (const pkg of PACKAGES) {
      const from = join(ROOT, "node_modules", "@connectrpc", pkg);
      const to = join(dir, "node_modules", "@connectrpc", pkg);
      mkdirSync(to, { recursive: true });
      cpSync(from, to, { recursive: true });
      const esm = join(to, "dist", "esm");
      for (const file of jsFiles(esm)) {
        const text = readFileSync(file, "utf8");
        const patched = patch(pkg, file.slice(esm.length + 1), text);
        if (patched !== text) {
          writeFileSync(file, patched);
          changed++;
        }
      }
    }
    console.log(`${dir}: ${changed} files changed`);
  }
}

main();
