import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { extname, join } from "node:path";
import { gzipSync } from "node:zlib";
import type { RequestHandler } from "./one-port.js";

type Exchange = Parameters<RequestHandler>;

/** Where the console is served: `/console`, and every path under `/console/`. */
export const CONSOLE_PATH = "/console";

/** Bounds of what is served: the build is read once, at start, and only if it stays within them. */
export const CONSOLE_LIMITS = { maxFiles: 500, maxFileBytes: 4 * 1024 * 1024, maxTotalBytes: 32 * 1024 * 1024, maxDepth: 8 };

/** The content types of the files a Vite build makes; any other file is not served. */
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The console's policy: scripts, styles and calls from this origin only, nothing inline, no frames,
 * no plugins, no base or form targets elsewhere.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers on every answer under /console. */
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
};

interface StaticFile {
  body: Buffer;
  /** The body gzipped, when that is smaller; its ETag is the body's with `-gz` (a different representation). */
  gzip?: { body: Buffer; etag: string };
  type: string;
  etag: string;
  /** Vite's hashed assets never change under their name. */
  immutable: boolean;
}

/** Why the console is not served, or the files it is served from. */
export type ConsoleBuild = { files: ReadonlyMap<string, StaticFile> } | { missing: string };

/**
 * Reads a Vite build (index.html and assets/) into memory once: only regular files of known types,
 * within CONSOLE_LIMITS, symbolic links and dot files skipped. Requests are then answered from this
 * map by exact path, so no request can name a file outside it.
 */
export function loadConsoleBuild(dir: string): ConsoleBuild {
  const files = new Map<string, StaticFile>();
  let total = 0;
  // One byte past the limit: a file that fills it is too large.
  const scratch = Buffer.alloc(CONSOLE_LIMITS.maxFileBytes + 1);
  const walk = (path: string, urlPath: string, depth: number): string | undefined => {
    if (depth > CONSOLE_LIMITS.maxDepth) return `${path}: deeper than ${CONSOLE_LIMITS.maxDepth} folders`;
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.name.startsWith(".")) continue;
      const full = join(path, entry.name);
      const url = `${urlPath}/${encodeURIComponent(entry.name)}`;
      if (entry.isDirectory()) {
        const problem = walk(full, url, depth + 1);
        if (problem) return problem;
        continue;
      }
      const type = TYPES[extname(entry.name).toLowerCase()];
      if (!entry.isFile() || type === undefined) continue;
      if (files.size >= CONSOLE_LIMITS.maxFiles) return `${dir}: more than ${CONSOLE_LIMITS.maxFiles} files`;
      const body = readRegularFile(full, scratch);
      if (body === undefined) continue;
      if (body.length > CONSOLE_LIMITS.maxFileBytes) return `${full}: larger than ${CONSOLE_LIMITS.maxFileBytes} bytes`;
      total += body.length;
      if (total > CONSOLE_LIMITS.maxTotalBytes) return `${dir}: more than ${CONSOLE_LIMITS.maxTotalBytes} bytes`;
      const tag = createHash("sha256").update(body).digest("base64url").slice(0, 27);
      const gzip = body.length > 1024 ? gzipSync(body) : undefined;
      files.set(url, {
        body,
        ...(gzip && gzip.length < body.length && { gzip: { body: gzip, etag: `"${tag}-gz"` } }),
        type,
        etag: `"${tag}"`,
        immutable: url.startsWith(`${CONSOLE_PATH}/assets/`),
      });
    }
    return undefined;
  };
  let problem: string | undefined;
  try {
    problem = walk(dir, CONSOLE_PATH, 0);
  } catch (err) {
    return { missing: `${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)} (run npm run build)` };
  }
  if (problem) return { missing: problem };
  if (!files.has(`${CONSOLE_PATH}/index.html`)) return { missing: `${dir}: no index.html (run npm run build)` };
  return { files };
}

/**
 * A copy of the file at `path` if it is still a regular file (not a link: it was one when listed),
 * read through `scratch` and at most its length, so that a file grown past the limit since the
 * listing is seen as too large without being read whole. Undefined when it is no longer a regular file.
 */
function readRegularFile(path: string, scratch: Buffer): Buffer | undefined {
  // O_NONBLOCK: a FIFO put in place of a listed file cannot hold the start up (fstat then finds it no regular file).
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    let length = 0;
    for (let n = -1; n !== 0 && length < scratch.length; length += n) n = readSync(fd, scratch, length, scratch.length - length, null);
    return Buffer.from(scratch.subarray(0, length));
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether If-None-Match (RFC 9110 §13.1.2) matches the ETag: `*`, or a list of entity tags one of
 * which equals it by weak comparison (a `W/` prefix on either side is ignored).
 */
export function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === "*") return true;
  const opaque = etag.replace(/^W\//, "");
  return (header.match(/(?:W\/)?"[^"]*"/g) ?? []).some((tag) => tag.replace(/^W\//, "") === opaque);
}

/** Whether a request path (without its query) is the console's. */
export function isConsolePath(path: string): boolean {
  return path === CONSOLE_PATH || path.startsWith(`${CONSOLE_PATH}/`);
}

/**
 * Answers a request under /console from the loaded build: GET and HEAD only, at once, the body of
 * the request never read (after the answer an HTTP/1.1 connection is closed; Node.js resets an
 * HTTP/2 stream whose body was not read with NO_ERROR). A path naming a file gets the file; a path
 * under /console/assets/ naming none 404; any other path index.html (the console routes in the
 * browser, and shows its own page for an address it does not know). Returns the code for the call line.
 */
export function serveConsole(build: ConsoleBuild, path: string, ...[req, res]: Exchange): string {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end("the console answers GET and HEAD only\n");
    return "http_405";
  }
  if ("missing" in build) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
    res.end("the console is not built on this server (npm run build makes it)\n");
    return "NOT_FOUND";
  }
  // Every other page address (a user id may hold a dot, as an email does) is the console's to route; a missing asset is 404.
  const file = build.files.get(path) ?? (path.startsWith(`${CONSOLE_PATH}/assets/`) ? undefined : build.files.get(`${CONSOLE_PATH}/index.html`));
  if (!file) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" });
    res.end("not found\n");
    return "NOT_FOUND";
  }
  const gzip = file.gzip && acceptsGzip(req.headers["accept-encoding"]) ? file.gzip : undefined;
  const { body, etag } = gzip ?? file;
  const headers: Record<string, string | number> = {
    "content-type": file.type,
    etag,
    vary: "accept-encoding",
    "cache-control": file.immutable ? "public, max-age=31536000, immutable" : "no-cache",
  };
  if (ifNoneMatch(req.headers["if-none-match"], etag)) {
    res.writeHead(304, headers);
    res.end();
    return "OK";
  }
  if (gzip) headers["content-encoding"] = "gzip";
  headers["content-length"] = body.length;
  res.writeHead(200, headers);
  if (req.method === "HEAD") res.end();
  else res.end(body);
  return "OK";
}

/** Whether Accept-Encoding (RFC 9110 §12.5.3) takes gzip: named, or `*`, with a weight above 0 (`gzip;q=0` refuses it). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const weights = new Map<string, number>();
  for (const entry of String(header ?? "").split(",")) {
    const [name = "", ...params] = entry.split(";").map((p) => p.trim().toLowerCase());
    const q = params.find((p) => p.startsWith("q="));
    weights.set(name, q === undefined ? 1 : Number(q.slice(2)) || 0);
  }
  return (weights.get("gzip") ?? weights.get("*") ?? 0) > 0;
}
