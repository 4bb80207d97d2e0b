import { describe, expect, it } from "vitest";
import { claimValues, looksLikeJws, principalOf, type JwtCallerSettings } from "../../src/auth/jwt-callers.js";
import { TokenRefused } from "../../src/auth/verify-token.js";

const entry: JwtCallerSettings = {
  issuer: "https://idp.example",
  jwksUri: "https://idp.example/jwks",
  jwksCooldownMs: 0,
  algorithms: ["ES256"],
  principalClaim: "sub",
  userIdClaim: "sub",
  permissionsClaim: "permissions",
};

const refusedCheck = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TokenRefused);
    return (err as TokenRefused).check;
  }
  throw new Error("expected a refusal");
};

describe("JWT callers' principals", () => {
  it("read a roles or scopes claim as an array, a space-separated string or an object's keys; anything else is no values", () => {
    expect(claimValues(["a", 1, "b"])).toEqual(["a", "b"]);
    expect(claimValues(" openid  session.read ")).toEqual(["openid", "session.read"]);
    expect(claimValues({ "session-admin": { "123": "acme.example" }, viewer: {} })).toEqual(["session-admin", "viewer"]);
    for (const v of [undefined, null, 7, true]) expect(claimValues(v)).toEqual([]);
  });

  it("name the caller <issuer>#<claim>, take its user id, and grant our permission names, or only mapped values when a map is given", () => {
    const p = principalOf(entry, { sub: "alice", permissions: ["session.read", "session.nuke", "admin"] });
    expect(p).toEqual({ name: "https://idp.example#alice", userId: "alice", permissions: new Set(["session.read"]) });
    expect(p.totpKey).toBeUndefined();
    const mapped = { ...entry, userIdClaim: "uid", permissionMap: { admin: ["session.delete", "session.read"] as const } };
    expect(principalOf(mapped, { sub: "svc", permissions: "admin session.create constructor __proto__" })).toEqual({ name: "https://idp.example#svc", permissions: new Set(["session.delete", "session.read"]) });
  });

  it("refuse a token without a usable principal claim", () => {
    expect(refusedCheck(() => principalOf(entry, {}))).toBe("claims");
    expect(refusedCheck(() => principalOf(entry, { sub: 42 as unknown as string }))).toBe("claims");
    expect(refusedCheck(() => principalOf(entry, { sub: "x".repeat(256) }))).toBe("claims");
  });

  it("tell a JWS compact token from an API key by its shape", () => {
    expect(looksLikeJws("eyJh.eyJp.c2ln")).toBe(true);
    expect(looksLikeJws("eyJh.eyJp.")).toBe(true);
    expect(looksLikeJws("sck_abcdef")).toBe(false);
    expect(looksLikeJws("a.b")).toBe(false);
    expect(looksLikeJws("a.b.c.d.e")).toBe(false);
    expect(looksLikeJws("a b.c.d")).toBe(false);
  });
});
