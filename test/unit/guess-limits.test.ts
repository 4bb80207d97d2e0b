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

  it("tells whether an address is blocked without counting a failure", async () => {
    const reasons: string[] = [];
    const limits = new GuessLimits({ failedAuthPerAddress: 2, wrongTokensPerSession: 1, windowMs: 60_000 }, undefined, createLogger("silent"), (r) => reasons.push(r));
    expect(await limits.peekAddress("10.0.0.1")).toBeUndefined();
    expect(await limits.refusedAuth("10.0.0.1")).toBeUndefined();
    expect(await limits.refusedAuth("10.0.0.1")).toBeUndefined();
    expect(await limits.peekAddress("10.0.0.1")).toBeUndefined();
    const retry = await limits.refusedAuth("10.0.0.1");
    expect(retry?.ms).toBeGreaterThan(0);
    expect((await limits.peekAddress("10.0.0.1"))?.ms).toBeGreaterThan(0);
    expect(await limits.peekAddress("10.0.0.2")).toBeUndefined();
    expect(reasons).toEqual(["API_KEY_INVALID", "API_KEY_INVALID", "TOO_MANY_FAILED_AUTHENTICATIONS"]);
  });
});
