import { describe, expect, it } from "vitest";
import { Limiter, ListingLimiters, ProviderLimiters } from "../../src/sessions/limiter.js";
import { until } from "../helpers/wait.js";

/** A task that runs until the test ends it; `running` counts those started and not yet ended. */
function heldTasks() {
  const ends: (() => void)[] = [];
  let running = 0;
  const task = () =>
    new Promise<string>((resolve) => {
      running++;
      ends.push(() => {
        running--;
        resolve("done");
      });
    });
  return { task, running: () => running, endAll: () => ends.splice(0).forEach((end) => end()) };
}

describe("Limiter", () => {
  it("runs at most its limit at once, the others in order as places free, and drops a waiter whose signal aborts", async () => {
    const limiter = new Limiter(2);
    const held = heldTasks();
    const first = [limiter.run(held.task), limiter.run(held.task)];
    const abort = new AbortController();
    const dropped = limiter.run(held.task, abort.signal);
    const third = limiter.run(held.task);
    await until("two running", () => held.running() === 2);
    abort.abort(new Error("cut off"));
    await expect(dropped).rejects.toThrow("cut off");
    held.endAll();
    await Promise.all(first);
    await until("the third running", () => held.running() === 1);
    held.endAll();
    expect(await third).toBe("done");
  });
});

describe("ListingLimiters", () => {
  it("gives listings at most half of a provider's places, so sign-out-everywhere's work always has the rest", async () => {
    const shared = new ProviderLimiters(4);
    const listings = new ListingLimiters(shared, 4);
    const lists = heldTasks();
    const work = heldTasks();
    const listed = Array.from({ length: 6 }, () => listings.for("chat").run(lists.task));
    await until("two listings running", () => lists.running() === 2);
    const ended = Array.from({ length: 2 }, () => shared.for("chat").run(work.task));
    await until("the work running beside them", () => work.running() === 2);
    expect(lists.running()).toBe(2);
    // Another provider's places are its own.
    const other = listings.for("vault").run(async () => "other");
    expect(await other).toBe("other");
    work.endAll();
    await Promise.all(ended);
    expect(lists.running()).toBe(2);
    // Places freed by the work are not the listings' to take: two at a time still.
    lists.endAll();
    await until("the next two listings", () => lists.running() === 2);
    lists.endAll();
    await until("the last two listings", () => lists.running() === 2);
    lists.endAll();
    expect(await Promise.all(listed)).toEqual(listed.map(() => "done"));
  });

  it("with one place per provider, listings take it in turn with the work", async () => {
    const shared = new ProviderLimiters(1);
    const listings = new ListingLimiters(shared, 1);
    const lists = heldTasks();
    const work = heldTasks();
    const listing = listings.for("chat").run(lists.task);
    await until("the listing running", () => lists.running() === 1);
    const ended = shared.for("chat").run(work.task);
    expect(work.running()).toBe(0);
    lists.endAll();
    await until("the work running", () => work.running() === 1);
    work.endAll();
    expect([await listing, await ended]).toEqual(["done", "done"]);
  });
});
