import { randomBytes, randomUUID } from "node:crypto";
import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { listDeliveries } from "../helpers/deliveries.js";
import { bearer, grpcClient, startTestService, type TestService } from "../helpers/service.js";
import { SESSION_REVOKED, SetReceiver, VERIFICATION, type ReceivedSet } from "../helpers/set-receiver.js";
import { until } from "../helpers/wait.js";

/** What the stream's receiver asks to be sent as Authorization (a secret: never answered back). */
const STREAM_AUTH = `Bearer stream-${randomUUID()}`;

let svc: TestService;
let client: Client<typeof SessionControl>;
/** The stream's push endpoint. */
let receiver: SetReceiver;
/** A configured receiver: it hears of every end, which shows when the stream's share has been decided. */
let witness: SetReceiver;

beforeAll(async () => {
  [receiver, witness] = await Promise.all([SetReceiver.ssf(), SetReceiver.ssf("complex")]);
  svc = await startTestService({}, {
    notifications: { receivers: [{ name: "witness", kind: "ssf", endpoint: witness.url }], poll_ms: 50, retry_initial_ms: 50, retry_max_ms: 200 },
  });
  client = grpcClient(svc);
  witness.trust({ issuer: svc.baseUrl, jwksUrl: `${svc.baseUrl}/jwks.json`, audience: witness.origin });
});
afterAll(async () => {
  await svc?.stop();
  await Promise.all([receiver?.close(), witness?.close()]);
});

interface Answer {
  status: number;
  body: Record<string, unknown> | Record<string, unknown>[] | undefined;
  text: string;
}

/** One call of the stream management API, with the `ssf` key unless another (or null: none) is given. */
async function ssf(method: string, path: string, body?: unknown, key: string | null = svc.keys.ssf): Promise<Answer> {
  const res = await fetch(`${svc.baseUrl}${path}`, {
    method,
    headers: { ...(key !== null && bearer(key)), ...(body !== undefined && { "content-type": "application/json" }) },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, text, body: text === "" ? undefined : (JSON.parse(text) as Answer["body"]) };
}

/** Ends a new session of a new user; resolves once the witness has its notice, and returns the user. */
async function endOne(): Promise<{ user: string; sessionId: string; requestId: string }> {
  const user = `u-${randomBytes(6).toString("hex")}`;
  const requestId = randomUUID();
  const { sessionId } = await client.createSession({ userId: user }, { headers: bearer(svc.keys.admin), timeoutMs: 5_000 });
  await client.terminate({ sessionId, requestId }, { headers: bearer(svc.keys.admin), timeoutMs: 5_000 });
  await until(`the witness to hear of ${user}`, () => witness.revoked().some((s) => s.claims.txn === requestId));
  return { user, sessionId, requestId };
}

/** The SET of that end (whatever the stream's subject format): its txn is the request id. */
const about = (end: { requestId: string }) => (s: ReceivedSet) => s.claims.txn === end.requestId;
const streamDeliveries = async (streamId: string, sessionId: string) =>
  (await listDeliveries(svc.baseUrl, svc.keys.reader, { receiver: `stream:${streamId}` })).filter((d) => d.sessionId === sessionId);

describe("SSF stream management (SSF 1.0 §8), end to end", () => {
  it("needs a key holding ssf.manage", async () => {
    const create = { delivery: { method: "urn:ietf:rfc:8935", endpoint_url: receiver.url } };
    expect((await ssf("POST", "/ssf/stream", create, null)).status).toBe(401);
    expect((await ssf("POST", "/ssf/stream", create, svc.keys.admin)).status).toBe(403);
    expect((await ssf("GET", "/ssf/stream", undefined, svc.keys.admin)).status).toBe(403);
    // Nothing was created.
    expect(await ssf("GET", "/ssf/stream")).toMatchObject({ status: 200, body: [] });
  });

  it("a stream with push delivery: verification, session-revoked, paused keeps, enabled delivers, disabled drops, deleted is gone", async () => {
    const created = await ssf("POST", "/ssf/stream", {
      delivery: { method: "urn:ietf:rfc:8935", endpoint_url: receiver.url, authorization_header: STREAM_AUTH },
      events_requested: [SESSION_REVOKED],
      description: "e2e stream",
    });
    expect(created.status, created.text).toBe(201);
    const stream = created.body as Record<string, unknown>;
    const streamId = stream["stream_id"] as string;
    expect(streamId).toEqual(expect.any(String));
    expect(stream).toMatchObject({ iss: svc.baseUrl, events_requested: [SESSION_REVOKED], events_delivered: [SESSION_REVOKED], description: "e2e stream" });
    expect(stream["delivery"]).toMatchObject({ method: "urn:ietf:rfc:8935", endpoint_url: receiver.url });
    expect(created.text).not.toContain(STREAM_AUTH);
    const audience = [stream["aud"] as string | string[]].flat()[0]!;
    receiver.trust({ issuer: svc.baseUrl, jwksUrl: `${svc.baseUrl}/jwks.json`, audience });

    // Read back, one and all.
    const one = await ssf("GET", `/ssf/stream?stream_id=${encodeURIComponent(streamId)}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ stream_id: streamId, description: "e2e stream" });
    const all = await ssf("GET", "/ssf/stream");
    expect(all.status).toBe(200);
    expect((all.body as Record<string, unknown>[]).map((s) => s["stream_id"])).toContain(streamId);

    // The verification event: state echoed, the stream as its opaque subject.
    expect((await ssf("POST", "/ssf/verify", { stream_id: streamId, state: "state-42" })).status).toBe(204);
    const verification = await until(
      () => `the verification event (problems: ${receiver.problems.join("; ")})`,
      () => receiver.sets.find((s) => VERIFICATION in s.claims.events),
    );
    expect(verification.claims.events[VERIFICATION]).toEqual({ state: "state-42" });
    expect(verification.claims.sub_id).toEqual({ format: "opaque", id: streamId });
    expect(verification.authorization).toBe(STREAM_AUTH);

    // Enabled: a termination reaches the stream.
    expect(await ssf("GET", `/ssf/status?stream_id=${encodeURIComponent(streamId)}`)).toMatchObject({ status: 200, body: { stream_id: streamId, status: "enabled" } });
    const first = await endOne();
    const revoked = await until("the session-revoked SET at the stream", () => receiver.revoked().find(about(first)));
    expect(revoked.claims.sub_id.user?.id ?? revoked.claims.sub_id.id).toBe(first.user);
    expect(revoked.authorization).toBe(STREAM_AUTH);

    // Paused: the event is kept, not sent; enabled again: it is sent.
    expect(await ssf("POST", "/ssf/status", { stream_id: streamId, status: "paused", reason: "maintenance" })).toMatchObject({ status: 200, body: { stream_id: streamId, status: "paused" } });
    const whilePaused = await endOne();
    await until("the paused stream's delivery, kept unsent", async () => (await streamDeliveries(streamId, whilePaused.sessionId)).some((d) => d.state === "pending" && d.attempts === 0));
    expect(receiver.revoked().filter(about(whilePaused))).toEqual([]);
    expect((await ssf("POST", "/ssf/status", { stream_id: streamId, status: "enabled" })).status).toBe(200);
    await until("the kept event after enabling", () => receiver.revoked().find(about(whilePaused)));

    // Paused with one kept, then disabled: the kept one is dropped, and nothing new is written.
    expect((await ssf("POST", "/ssf/status", { stream_id: streamId, status: "paused" })).status).toBe(200);
    const kept = await endOne();
    await until("the kept delivery", async () => (await streamDeliveries(streamId, kept.sessionId)).some((d) => d.state === "pending"));
    expect((await ssf("POST", "/ssf/status", { stream_id: streamId, status: "disabled", reason: "done" })).status).toBe(200);
    await until("the kept delivery, dropped", async () => (await streamDeliveries(streamId, kept.sessionId)).some((d) => d.state === "dropped"));
    const whileDisabled = await endOne();
    expect(await streamDeliveries(streamId, whileDisabled.sessionId)).toEqual([]);
    expect((await ssf("POST", "/ssf/status", { stream_id: streamId, status: "enabled" })).status).toBe(200);
    // Enabled again, a new end arrives; the dropped and the unwritten ones never do.
    const after = await endOne();
    await until("the event after re-enabling", () => receiver.revoked().find(about(after)));
    expect(receiver.revoked().filter((s) => about(kept)(s) || about(whileDisabled)(s))).toEqual([]);

    // Update, then delete.
    const patched = await ssf("PATCH", "/ssf/stream", { stream_id: streamId, description: "renamed" });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ stream_id: streamId, description: "renamed" });
    expect((await ssf("DELETE", `/ssf/stream?stream_id=${encodeURIComponent(streamId)}`)).status).toBe(204);
    expect((await ssf("GET", `/ssf/stream?stream_id=${encodeURIComponent(streamId)}`)).status).toBe(404);
    expect(receiver.problems).toEqual([]);
    expect(svc.logText()).not.toContain(STREAM_AUTH);
  });
});
