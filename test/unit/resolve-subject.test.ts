import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Principal } from "../../src/auth/principal.js";
import { UserLinks } from "../../src/sessions/user-links.js";
import { Failure } from "../../src/status/failure.js";
import { SqliteStores } from "../../src/store/sqlite.js";

const manager: Principal = { name: "manager", permissions: new Set(["users.manage"]) };

let dir: string;
let stores: SqliteStores;
let links: UserLinks;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sc-resolve-"));
  stores = SqliteStores.open(dir);
  links = new UserLinks(stores.links, stores.sessions, ["local", "chat"]);
  await links.set(manager, {
    userId: "alice",
    emails: ["Alice@Example.COM"],
    identities: [{ iss: "https://idp.example", sub: "248289761001" }],
    providerUserIds: { chat: "rc-alice" },
  });
  // bob has no links, only a session (ended) in the embedded store.
  const s = await stores.sessions.createSession({ userId: "bob", resourceOwner: "", metadata: {}, tokenHash: new Uint8Array(32) });
  await stores.sessions.terminateSession(s.id, { by: "test", reason: "", requestId: "" });
});
afterAll(async () => {
  await stores?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The Failure a resolution throws. */
async function failure(subject: unknown): Promise<Failure> {
  const err = await links.resolveSubject(subject).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Failure);
  return err as Failure;
}

describe("UserLinks.resolveSubject (RFC 9493 subject identifiers)", () => {
  it("resolves opaque: a user with links, or with a session in the embedded store; else none", async () => {
    expect(await links.resolveSubject({ format: "opaque", id: "alice" })).toBe("alice");
    expect(await links.resolveSubject({ format: "opaque", id: "bob" })).toBe("bob");
    expect(await links.resolveSubject({ format: "opaque", id: "carol" })).toBeUndefined();
    expect(await links.resolveSubject({ format: "opaque", id: "x".repeat(201) })).toBeUndefined();
  });

  it("resolves email case-insensitively", async () => {
    expect(await links.resolveSubject({ format: "email", email: "alice@example.com" })).toBe("alice");
    expect(await links.resolveSubject({ format: "email", email: "ALICE@EXAMPLE.COM" })).toBe("alice");
    expect(await links.resolveSubject({ format: "email", email: "bob@example.com" })).toBeUndefined();
  });

  it("resolves iss_sub exactly", async () => {
    expect(await links.resolveSubject({ format: "iss_sub", iss: "https://idp.example", sub: "248289761001" })).toBe("alice");
    expect(await links.resolveSubject({ format: "iss_sub", iss: "https://idp.example/", sub: "248289761001" })).toBeUndefined();
    expect(await links.resolveSubject({ format: "iss_sub", iss: "https://other.example", sub: "248289761001" })).toBeUndefined();
  });

  it("resolves SSF complex subjects by their user member", async () => {
    const session = { format: "opaque", id: "sess-1" };
    expect(await links.resolveSubject({ format: "complex", user: { format: "email", email: "alice@example.com" }, session })).toBe("alice");
    expect(await links.resolveSubject({ format: "complex", user: { format: "iss_sub", iss: "https://idp.example", sub: "248289761001" } })).toBe("alice");
    expect(await links.resolveSubject({ format: "complex", user: { format: "opaque", id: "bob" } })).toBe("bob");
    expect(await links.resolveSubject({ format: "complex", user: { format: "opaque", id: "nobody" } })).toBeUndefined();
  });

  it("refuses unknown formats with SUBJECT_FORMAT_UNSUPPORTED", async () => {
    for (const subject of [
      { format: "phone_number", phone_number: "+12065550100" },
      { format: "did", url: "did:example:123" },
      { format: "complex", user: { format: "account", uri: "acct:alice@example.com" } },
    ]) {
      const f = await failure(subject);
      expect([f.code, f.reason]).toEqual(["INVALID_ARGUMENT", "SUBJECT_FORMAT_UNSUPPORTED"]);
    }
  });

  it("refuses malformed subjects with SUBJECT_INVALID", async () => {
    for (const subject of [
      undefined,
      null,
      "alice",
      ["opaque"],
      {},
      { format: 7, id: "alice" },
      { format: "" },
      { format: "opaque" },
      { format: "opaque", id: 42 },
      { format: "opaque", id: "" },
      { format: "email" },
      { format: "email", email: ["alice@example.com"] },
      { format: "iss_sub", iss: "https://idp.example" },
      { format: "iss_sub", sub: "248289761001" },
      { format: "complex" },
      { format: "complex", user: "alice" },
      { format: "complex", user: { format: "complex", user: { format: "opaque", id: "alice" } } },
    ]) {
      const f = await failure(subject);
      expect([f.code, f.reason], JSON.stringify(subject)).toEqual(["INVALID_ARGUMENT", "SUBJECT_INVALID"]);
    }
  });

  it("answers a user's provider ids as linked, none for a user without links", async () => {
    expect(await links.providerUserIds("alice")).toEqual({ chat: "rc-alice" });
    expect(await links.providerUserIds("bob")).toEqual({});
  });
});
