import { accessSync, chmodSync, closeSync, constants, mkdirSync, openSync, readdirSync, readFileSync, statSync, type Stats } from "node:fs";
import { dirname } from "node:path";

/** The files the service keeps in its data directory; a directory holding nothing else is the service's own. */
const OWN_FILES = new Set(["sessions.db", "sessions.db-wal", "sessions.db-shm", "sessions.db-journal", "admin.key", "signing-key.pem"]);

/** The data directory, or a file in it, cannot be used; the message names the path and what is wrong. */
export class DataDirError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = "DataDirError";
  }
}

/**
 * Makes `dir` the service's private directory: created with mode 0700, or tightened to 0700
 * when it is ours (our user's, holding nothing but our files). A pre-existing directory with
 * other content is left as it is (looseDataDir() says so): changing its mode could break
 * whoever else uses it, and the files we keep in it are 0600 anyway.
 */
export function privateDataDir(dir: string): void {
  const st = statOrUndefined(dir);
  if (st === undefined) {
    attempt(dirname(dir), () => mkdirSync(dirname(dir), { recursive: true }));
    // recursive: no error when another process made it meanwhile (a file there is still EEXIST).
    attempt(dir, () => mkdirSync(dir, { mode: 0o700, recursive: true }));
  } else if (!st.isDirectory()) {
    throw new DataDirError(dir, "is not a directory");
  } else if ((st.mode & 0o077) !== 0 && isOurs(dir, st)) {
    attempt(dir, () => chmodSync(dir, st.mode & 0o700));
  }
  attempt(dir, () => accessSync(dir, constants.W_OK | constants.X_OK));
}

/** When `dir` stays open to other users: its mode, for a warning. */
export function looseDataDir(dir: string): string | undefined {
  const mode = statOrUndefined(dir)?.mode;
  return mode !== undefined && (mode & 0o077) !== 0 ? (mode & 0o777).toString(8).padStart(4, "0") : undefined;
}

/**
 * Makes `file` private (0600), taking group and other access away from an existing one.
 * With `create`, a missing file is created empty with that mode, and the file must be writable.
 */
export function privateFile(file: string, create: boolean): void {
  const st = statOrUndefined(file);
  if (st !== undefined && !st.isFile()) throw new DataDirError(file, "is not a regular file");
  // Opening for append creates the file (mode 0600) and proves it writable, without changing it.
  if (create) attempt(file, () => closeSync(openSync(file, "a", 0o600)));
  if (st !== undefined && (st.mode & 0o077) !== 0) attempt(file, () => chmodSync(file, st.mode & 0o600));
}

/** Runs a step on a file, turning a file-system or SQLite failure into a DataDirError about `path`. */
/** A file's text; undefined when there is no such file (other failures throw: wrap in attempt). */
export function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export function attempt<T>(path: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof DataDirError || typeof code !== "string" || !/^(E[A-Z]+|SQLITE_\w+)$/.test(code)) throw err;
    throw new DataDirError(path, problem(err as NodeJS.ErrnoException));
  }
}

function problem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "EACCES":
    case "EPERM":
      return `not writable by this process (${err.code})`;
    case "EROFS":
      return "on a read-only file system (EROFS)";
    case "ENOTDIR":
      return "a part of the path is a file, not a directory (ENOTDIR)";
    case "EEXIST":
      return "is not a directory (EEXIST)";
    default:
      return err.code ? `${err.message.split(",")[0]} (${err.code})` : err.message;
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new DataDirError(path, problem(err as NodeJS.ErrnoException));
  }
}

function isOurs(dir: string, st: Stats): boolean {
  return st.uid === process.getuid?.() && readdirSync(dir).every((name) => OWN_FILES.has(name));
}
