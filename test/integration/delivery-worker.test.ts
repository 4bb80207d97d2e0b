import { decodeJwt } from "jose";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import { Secret } from "../../src/config/secret.js";
import { SESSION_REVOKED } from "../../src/notify/set-claims.js";
import type { Target } from "../../src/notify/targets.js";
import { subscriberId } from "../../src/store/outbox-types.js";
import { endedSession, ISSUER, startWorker, testSigner } from "../helpers/delivery.js";
import { until } from "../helpers/wait.js";
import { Receiver } from "../fakes/receiver.js";

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(answer: Parameters<typeof Receiver.start>[0]): Promise<Receiver> {
  const r = await Receiver.start(answer);
  receivers.push(r);
  return r;
}

function ssf(endpoint: string, over: Partial<Target> = {}): Target {
  return { kind: "ssf", endpoint, audience: "https://rp.example", subjectFormat: "complex", ...over };
}

const A = subscriberId.receiver("a");
const WHSEC = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;

describe("the delivery worker", () => {
  it("delivers a signed SET exactly as RFC 8417, SSF 1.0 and CAEP 1.0 say, with the configured Authorization, and logs no secret", async () => {
    const { signer, verify } = await testSigner();
    const rp = await receiver(() => ({ status: 202, raw: "" }));
    const { store, worker, observed } = startWorker({ [A]: ssf(rp.url + "/events", { authorization: new Secret("Bearer s3cr3t-token") }) }, signer);
    const d = store.add(endedSession(), A);
    worker.kick([A]);
    await until("delivered", () => store.get(d.id).state === "delivered");

    const [req] = rp.requests;
    expect(req!.pathname).toBe("/events");
    expect(req!.headers["content-type"]).toBe("application/secevent+jwt");
    expect(req!.headers["accept"]).toBe("application/json");
    expect(req!.headers["authorization"]).toBe("Bearer s3cr3t-token");
    const claims = await verify(req!.text, "https://rp.example");
    expect(claims).toEqual({
      iss: ISSUER,
      jti: d.jti,
      iat: Math.floor(d.createdAt.getTime() / 1000),
      aud: "https://rp.example",
      txn: "req-1",
      sub_id: { format: "complex", user: { format: "opaque", id: "u-1" }, session: { format: "opaque", id: "s-1" }, tenant: { format: "opaque", id: "org-1" } },
      events: { [SESSION_REVOKED]: { event_timestamp: 1735787045, initiating_entity: "admin", reason_admin: { en: "stolen laptop" } } },
    });
    expect(store.get(d.id).attempts).toBe(1);
    expect(observed.outcomes).toEqual([["a", "delivered"]]);
    expect(observed.logs.join("")).not.toContain("s3cr3t");
  });

  it("names the user alone in an opaque subject, and a user-wide notice (no session, no reason) without them", async () => {
    const { signer, verify } = await testSigner();
    const rp = await receiver(() => ({ status: 202, raw: "" }));
    const B = subscriberId.receiver("b");
    const { store, worker } = startWorker({ [A]: ssf(rp.url + "/a", { subjectFormat: "opaque" }), [B]: ssf(rp.url + "/b") }, signer);
    const userWide = endedSession({ sessionId: undefined, tenant: undefined, reason: undefined, initiatingEntity: "user", txn: "op-1" });
    const a = store.add(endedSession(), A);
    const b = store.add(userWide, B);
    worker.kick([A, B]);
    await until("both delivered", () => store.get(a.id).state === "delivered" && store.get(b.id).state === "delivered");
    const byPath = new Map(rp.requests.map((r) => [r.pathname, r.text]));
    expect((await verify(byPath.get("/a")!, "https://rp.example")).sub_id).toEqual({ format: "opaque", id: "u-1" });
    const claims = await verify(byPath.get("/b")!, "https://rp.example");
    expect(claims.sub_id).toEqual({ format: "complex", user: { format: "opaque", id: "u-1" } });
    expect(claims.txn).toBe("op-1");
    expect(claims.events).toEqual({ [SESSION_REVOKED]: { event_timestamp: 1735787045, initiating_entity: "user" } });
  });

  it("delivers a Standard Webhooks message that the standardwebhooks package verifies; any 2xx is delivered", async () => {
    const { signer } = await testSigner();
    const rp = await receiver(() => ({ status: 204, raw: "" }));
    const { store, worker } = startWorker({ [A]: { kind: "webhook", endpoint: rp.url + "/hook", audience: "unused", subjectFormat: "complex", secret: new Secret(WHSEC) } }, signer);
    const d = store.add(endedSession(), A);
    worker.kick([A]);
    await until("delivered", () => store.get(d.id).state === "delivered");
    const [req] = rp.requests;
    expect(req!.headers["content-type"]).toBe("application/json");
    expect(req!.headers["webhook-id"]).toBe(d.jti);
    const payload = new Webhook(WHSEC).verify(req!.text, req!.headers as Record<string, string>);
    expect(payload).toEqual({
      type: "session.revoked",
      timestamp: "2025-01-02T03:04:05.678Z",
      data: { user_id: "u-1", session_id: "s-1", provider: "local", tenant: "org-1", ended_at: "2025-01-02T03:04:05.678Z", initiating_entity: "admin", reason: "stolen laptop", txn: "req-1" },
    });
    expect(() => new Webhook(`whsec_${Buffer.from("another secret, 32 bytes long!!!").toString("base64")}`).verify(req!.text, req!.headers as Record<string, string>)).toThrow();
  });

  it("records a 400 with {err, description} as a permanent failure with its err, and never tries it again", async () => {
    const { signer } = await testSigner();
    const rp = await receiver(() => ({ status: 400, body: { err: "invalid_audience", description: "not\u0000 for\nus" } }));
    const { store, worker, observed } = startWorker({ [A]: ssf(rp.url) }, signer);
    const d = store.add(endedSession(), A);
    worker.kick([A]);
    await until("failed", () => store.get(d.id).state === "failed");
    expect(store.get(d.id).lastError).toEqual({ status: 400, err: "invalid_audience", message: "the receiver refused the event (invalid_audience): not for us" });
    const polls = store.polls;
    await until("three more polls", () => store.polls >= polls + 3);
    expect(rp.requests).toHaveLength(1);
    expect(observed.outcomes).toEqual([["a", "failed"]]);
  });

  it("treats 401 as our credentials refused: recorded, retried after misconfigured_retry_ms", async () => {
    const { signer } = await testSigner();
    const rp = await receiver((_r, n) => (n === 1 ? { status: 401, raw: "who are you?" } : { status: 202, raw: "" }));
    const { store, worker } = startWorker({ [A]: ssf(rp.url) }, signer, { misconfiguredRetryMs: 1_000 });
    const d = store.add(endedSession(), A);
    worker.kick([A]);
    await until("the 401 recorded", () => store.get(d.id).lastError?.status === 401);
    expect(store.get(d.id)).toMatchObject({ state: "pending", lastError: { status: 401, message: "the receiver refused our credentials: who are you?" } });
    await until("delivered", () => store.get(d.id).state === "delivered");
    const [first, second] = rp.requests;
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(1_000);
  });

  it("retries a 500 with the same jti until the receiver answers 202", async () => {
    const { signer, verify } = await testSigner();
    const rp = await receiver((_r, n) => (n <= 2 ? { status: 500, raw: "oops" } : { status: 202, raw: "" }));
    const { store, worker, observed } = startWorker({ [A]: ssf(rp.url) }, signer);
    const d = store.add(endedSession(), A);
    worker.kick([A]);
    await until("delivered", () => store.get(d.id).state === "delivered");
    expect(rp.requests).toHaveLength(3);
    for (const r of rp.requests) expect((await verify(r.text, "https://rp.example")).jti).toBe(d.jti);
    expect(store.get(d.id).attempts).toBe(3);
    expect(observed.outcomes).toEqual([["a", "pending"], ["a", "pending"], ["a", "delivered"]]);
  });

  it("gives up waiting after request_timeout_ms and tries again", async () => {
    const { signer } = await testSigner();
    const rp = await receiver((_r, n) => (n === 1 ? { status: 202, delayMs: 60_000 } : { status: 202, raw: "" }));
    const { store, worker } = startWorker({ [A]: ssf(rp.url) }, signer, { requestTimeoutMs: 300 });
    const d = store.add(endedSession(), A);
    worker.kick([A]);
    await until("delivered", () => store.get(d.id).state === "delivered");
    expect(store.get(d.id).lastError?.message).toBe("no answer within notifications.request_timeout_ms (300 ms)");
    expect(rp.requests[0]!.aborted).toBe(true);
    expect(decodeJwt(rp.requests[1]!.text).jti).toBe(d.jti);
  });

  it("waits as long as Retry-After says", async () => {
    const { signer } = await testSigner();
    const rp = await receiver((_r, n) => (n === 1 ? { status: 429, raw: "", headers: { "retry-after": "1" } } : { status: 202, raw: "" }));
    const { store, worker } = startWorker({ [A]: ssf(rp.url) }, signer, { retryInitialMs: 10, retryMaxMs: 20 });
    const d = store.add(endedSession(), A);
    worker.kick([A]);
    await until("delivered", () => store.get(d.id).state === "delivered");
    const [first, second] = rp.requests;
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(1_000);
    expect(store.get(d.id).lastError).toEqual({ status: 429, message: "the receiver answered 429" });
  });

  it("expires a delivery retried past its max age, and drops those of a subscriber that is gone", async () => {
    const { signer } = await testSigner();
    const rp = await receiver(() => ({ status: 503, raw: "" }));
    const { store, worker, observed } = startWorker({ [A]: ssf(rp.url) }, signer);
    const d = store.add(endedSession(), A, 500);
    const gone = store.add(endedSession(), subscriberId.stream("deleted"));
    worker.kick([A, gone.subscriber]);
    await until("dropped", () => store.get(gone.id).state === "dropped");
    await until("expired", () => store.get(d.id).state === "expired");
    expect(rp.requests.length).toBeGreaterThan(1);
    expect(store.get(gone.id).lastError?.message).toBe("the subscriber is gone (its stream was deleted)");
    expect(observed.outcomes).toContainEqual(["stream:*", "dropped"]);
    expect(observed.expired + observed.outcomes.filter(([, s]) => s === "expired").length).toBe(1);
  });

  it("tries a delivery whose SET could not be signed again later, like a receiver's outage", async () => {
    const { signer } = await testSigner();
    let failures = 1;
    const flaky = { sign: (claims: Record<string, unknown>) => (failures-- > 0 ? Promise.reject(new Error("key unavailable")) : signer.sign(claims)) };
    const rp = await receiver(() => ({ status: 202, raw: "" }));
    const { store, worker, observed } = startWorker({ [A]: ssf(rp.url) }, flaky);
    const d = store.add(endedSession(), A);
    worker.kick([A]);
    await until("delivered on the second attempt", () => store.get(d.id).state === "delivered");
    expect(store.get(d.id).attempts).toBe(2);
    expect(rp.requests).toHaveLength(1);
    expect(observed.logs.some((l) => l.includes("building a delivery failed"))).toBe(true);
  });

  it("leaves a receiver only another replica's configuration names pending, untouched, for that replica", async () => {
    const { signer } = await testSigner();
    const rp = await receiver(() => ({ status: 202, raw: "" }));
    const { store, worker } = startWorker({ [A]: ssf(rp.url) }, signer);
    const theirs = store.add(endedSession(), subscriberId.receiver("newer-config"));
    const ours = store.add(endedSession(), A);
    worker.kick([theirs.subscriber, A]);
    await until("ours delivered", () => store.get(ours.id).state === "delivered");
    const polls = store.polls;
    await until("two more polls", () => store.polls >= polls + 2);
    expect(store.get(theirs.id)).toMatchObject({ state: "pending", attempts: 0 });
  });
});
