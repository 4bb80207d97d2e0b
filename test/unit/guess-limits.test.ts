import { describe, expect, it } from "vitest";
import { addressKey, GuessLimits } from "../../src/auth/guess-limits.js";
import { createLogger } from "../../src/log.js";

describe("guess limits", () => {
  it("counts IPv4 addresses as they are and IPv6 ones by their /64", () => {
    expect(addressKey("127.0.0.2")).toBe("127.0.0.2");
    expect(addressKey("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:0db8:0001:0002:ffff:eeee:dddd:cccc")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::ffff:1.2.3.4")).toBe("2001:db8:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("")).toBe("");
  });

  it("refuses an address past its failed authentications, and no other", async () => {
    const reasons: string[] = [];
    const limits = new GuessLimits({ failedAuthPerAddress: 2, wrongTokensPerSession: 1, wrongTokensPerPrincipal: 0, windowMs: 60_000 }, undefined, createLogger("silent"), (r) => reasons.push(r));
    expect(await limits.refusedAuth("10.0.0.1")).toBeUndefined();
    expect(await limits.refusedAuth("10.0.0.1")).toBeUndefined();
    expect((await limits.refusedAuth("10.0.0.1"))?.ms).toBeGreaterThan(0);
    expect(await limits.refusedAuth("10.0.0.2")).toBeUndefined();
    expect(reasons).toEqual(["API_KEY_INVALID", "API_KEY_INVALID", "TOO_MANY_FAILED_AUTHENTICATIONS", "API_KEY_INVALID"]);
  });

  it("blocks a principal's token-bearing calls past its refused tokens across sessions, and no other principal", async () => {
    const limits = new GuessLimits({ failedAuthPerAddress: 0, wrongTokensPerSession: 100, wrongTokensPerPrincipal: 3, windowMs: 60_000 }, undefined, createLogger("silent"));
    for (const id of ["s1", "s2", "s3"]) {
      expect(await limits.tokensBlocked("local", id, "mallory")).toBeUndefined();
      await limits.refusedToken("local", id, "mallory");
    }
    expect((await limits.tokensBlocked("local", "s4", "mallory"))?.ms).toBeGreaterThan(0);
    expect(await limits.tokensBlocked("local", "s4", "alice")).toBeUndefined();
  });
});
