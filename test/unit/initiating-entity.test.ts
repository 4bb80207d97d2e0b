import { describe, expect, it } from "vitest";
import type { Permission, Principal } from "../../src/auth/principal.js";
import { initiatingEntity } from "../../src/sessions/initiating-entity.js";

const caller = (permissions: Permission[], userId?: string): Principal => ({ name: "p", permissions: new Set(permissions), ...(userId && { userId }) });

describe("who started an end (CAEP initiating_entity)", () => {
  it("is the user for a session's own token without session.delete, or the caller's own user id", () => {
    expect(initiatingEntity(caller([]), "u1", "token", undefined)).toBe("user");
    expect(initiatingEntity(caller([], "u1"), "u1", undefined, undefined)).toBe("user");
    expect(initiatingEntity(caller(["session.delete"], "u1"), "u1", undefined, undefined)).toBe("user");
  });

  it("is an admin for a caller with session.delete, token or not, and the system otherwise", () => {
    expect(initiatingEntity(caller(["session.delete"]), "u1", undefined, undefined)).toBe("admin");
    expect(initiatingEntity(caller(["session.delete"], "u2"), "u1", "token", undefined)).toBe("admin");
    // An unknown user is nobody's own.
    expect(initiatingEntity(caller(["session.read"], ""), "", undefined, undefined)).toBe("system");
  });

  it("is what the call says when it says (an operation's work, an inbound standard's policy)", () => {
    expect(initiatingEntity(caller(["session.delete"]), "u1", undefined, "policy")).toBe("policy");
    expect(initiatingEntity(caller([], "u1"), "u1", undefined, "admin")).toBe("admin");
  });
});
