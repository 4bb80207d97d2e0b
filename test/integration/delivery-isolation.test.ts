import { decodeJwt } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import type { Target } from "../../src/notify/targets.js";
import { subscriberId } from "../../src/store/outbox-types.js";
import { closedPort } from "../helpers/closed-port.js";
import { endedSession, startWorker, testSigner } from "../helpers/delivery.js";
import { until } from "../helpers/wait.js";
import { Receiver } from "../fakes/receiver.js";

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

function ssf(endpoint: string): Target {
  return { kind: "ssf", endpoint, audience: "https://rp.example", subjectFormat: "complex" };
}

const A = subscriberId.receiver("a");
const B = subscriberId.receiver("b");

describe("delivery to several receivers", () => {
  it("keeps retrying a receiver that is down, and delivers everything once it is back, each jti once", async () => {
    const { signer } = await testSigner();
    const port = await closedPort();
    const { store, worker } = startWorker({ [A]: ssf(`http://127.0.0.1:${port}/events`) }, signer);
    const ds = [1, 2, 3].map((i) => store.add(endedSession({ txn: `req-${i}` }), A));
    worker.kick([A]);
    await until("every delivery failed to connect twice", () => ds.every((d) => store.get(d.id).attempts >= 2));
    expect(store.get(ds[0]!.id)).toMatchObject({ state: "pending", lastError: { message: "could not reach the receiver (ECONNREFUSED)" } });
    const rp = await Receiver.start(() => ({ status: 202, raw: "" }), port);
    receivers.push(rp);
    await until("all delivered", () => ds.every((d) => store.get(d.id).state === "delivered"));
    expect(rp.requests.map((r) => decodeJwt(r.text).jti).sort()).toEqual(ds.map((d) => d.jti).sort());
  });

  it("sends promptly to one subscriber while another hangs (on the same origin), never more than concurrency_per_receiver at once to the hanging one", async () => {
    const { signer } = await testSigner();
    const rp = await Receiver.start((r) => (r.pathname === "/slow" ? { status: 202, delayMs: 60_000 } : { status: 202, raw: "" }));
    receivers.push(rp);
    const slowHits = () => rp.requests.filter((r) => r.pathname === "/slow").length;
    const { store, worker } = startWorker({ [A]: ssf(rp.url + "/slow"), [B]: ssf(rp.url + "/fast") }, signer, { requestTimeoutMs: 30_000, concurrencyPerReceiver: 2 });
    const stuck = [1, 2, 3, 4].map(() => store.add(endedSession(), A));
    worker.kick([A]);
    await until("the hanging subscriber holds two requests", () => slowHits() === 2);
    const sent = [1, 2, 3, 4, 5].map(() => store.add(endedSession(), B));
    worker.kick([B]);
    await until("all delivered to the prompt subscriber", () => sent.every((d) => store.get(d.id).state === "delivered"), { timeoutMs: 5_000 });
    expect(slowHits()).toBe(2);
    expect(stuck.map((d) => store.get(d.id).state)).toEqual(["pending", "pending", "pending", "pending"]);

    // Stopping cuts the hanging attempts short once its grace is over: recorded, to be tried again at once.
    await worker.stop(50);
    expect(stuck.slice(0, 2).map((d) => store.get(d.id).lastError?.message)).toEqual(["interrupted: the service stopped", "interrupted: the service stopped"]);
    expect(store.get(stuck[0]!.id).nextAttemptAt.getTime()).toBeLessThanOrEqual(Date.now());
  });
});
