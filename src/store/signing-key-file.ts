import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, openSync, unlinkSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { attempt, privateFile, readIfPresent } from "./data-dir.js";
import type { SigningKeyStore } from "./store.js";

/** The embedded store's signing key: a PEM file (0600) in the data directory, beside sessions.db. */
export class SigningKeyFile implements SigningKeyStore {
  readonly location: string;

  constructor(private readonly file: string) {
    this.location = `data_dir: ${file}`;
  }

  async signingKey(generate: () => Promise<string>): Promise<string> {
    const kept = this.read();
    if (kept !== undefined) return kept;
    const pem = await generate();
    // Written whole and synced under another name, then linked into place: a crash leaves no half
    // key, and a link that finds the file there already lets the first one win.
    const temp = `${this.file}.${randomBytes(6).toString("hex")}.tmp`;
    attempt(temp, () => {
      const fd = openSync(temp, "wx", 0o600);
      try {
        writeSync(fd, pem);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    });
    try {
      linkSync(temp, this.file);
      syncDirectory(dirname(this.file));
    } catch (err) {
      // EEXIST: another process kept its key first.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") failAbout(this.file, err);
    } finally {
      unlinkSync(temp);
    }
    return this.read()!;
  }

  /** The kept key, its file made 0600 first; undefined when there is none. */
  private read(): string | undefined {
    privateFile(this.file, false);
    return attempt(this.file, () => readIfPresent(this.file));
  }
}

/** A file-system failure as a DataDirError about `path` (see attempt). */
function failAbout(path: string, err: unknown): never {
  return attempt(path, () => {
    throw err;
  });
}

/** The new name is durable once the directory is synced. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
