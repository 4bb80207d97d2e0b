import { describe, expect, it } from "vitest";
import { DeliveryWorker } from "../../src/notify/delivery-worker.js";
import { Metrics } from "../../src/server/metrics.js";
import { subscriberId } from "../../src/store/outbox-types.js";
import { endedSession, testSigner } from "../helpers/delivery.js";
import { MemoryOutbox } from "../fakes/memory-outbox.js";
import { pino } from "pino";

describe("delivery metrics", () => {
  it("count outcomes per receiver and state, and read the outbox depth per receiver at each scrape, every stream under one label", async () => {
    const store = new MemoryOutbox();
    const metrics = new Metrics();
    const settings = { pollMs: 1_000, leaseMs: 1_000, requestTimeoutMs: 1_000, concurrencyPerReceiver: 1, retryInitialMs: 10, retryMaxMs: 10, misconfiguredRetryMs: 10 };
    const worker = new DeliveryWorker({ store, targets: async () => undefined, serves: () => true, signer: (await testSigner()).signer, issuer: "https://sc.example", settings, observer: metrics.deliveryObserver, log: pino({ level: "silent" }) });
    metrics.watchOutboxDepth(() => worker.outboxDepth());
    store.add(endedSession(), subscriberId.receiver("siem"));
    store.add(endedSession(), subscriberId.receiver("siem"));
    for (const id of ["s1", "s2", "s3"]) store.add(endedSession(), subscriberId.stream(id));
    metrics.deliveryObserver.outcome("siem", "delivered");
    metrics.deliveryObserver.outcome("stream:*", "dropped");
    metrics.deliveryObserver.expired(2);

    const text = (await metrics.render()).body;
    expect(text).toContain('session_control_outbox_depth{receiver="siem"} 2');
    expect(text).toContain('session_control_outbox_depth{receiver="stream:*"} 3');
    expect(text).toContain('session_control_deliveries_total{receiver="siem",state="delivered"} 1');
    expect(text).toContain('session_control_deliveries_total{receiver="stream:*",state="dropped"} 1');
    expect(text).toContain("session_control_deliveries_expired_total 2");

    await store.completeDelivery(1n, "w", { state: "delivered" });
    expect((await metrics.render()).body).toContain('session_control_outbox_depth{receiver="siem"} 1');
    await worker.stop(0);
  });
});
