import { describe, expect, it } from "vitest";
import { PenaltyBox } from "../../src/server/penalty-box.js";
import { until } from "../helpers/wait.js";

describe("penalty box", () => {
  it("holds an address, and every IPv6 address of its /64, until its time is up", async () => {
    const box = new PenaltyBox(50);
    box.add("2001:db8:1:2::7");
    box.add("10.0.0.1");
    expect(box.holds("2001:db8:1:2:ffff::1")).toBe(true);
    expect(box.holds("::ffff:10.0.0.1")).toBe(true);
    expect(box.holds("2001:db8:1:3::7")).toBe(false);
    expect(box.holds("10.0.0.2")).toBe(false);
    expect(box.holds(undefined)).toBe(false);
    await until("the address's time to be up", () => !box.holds("10.0.0.1"), { timeoutMs: 5_000 });
    expect(box.holds("10.0.0.1")).toBe(false);
  });

  it("lets the oldest address go first when full", () => {
    const box = new PenaltyBox(60_000, 2);
    for (const a of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) box.add(a);
    expect([box.holds("10.0.0.1"), box.holds("10.0.0.2"), box.holds("10.0.0.3")]).toEqual([false, true, true]);
  });
});
