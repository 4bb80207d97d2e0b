import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { childSetup, childTestTimeout, killAllChildren, startChild, type ChildService, type ChildSetup } from "../helpers/child-service.js";
import { listDeliveries } from "../helpers/deliveries.js";
import { SetReceiver } from "../helpers/set-receiver.js";
import { until } from "../helpers/wait.js";

/** The issuer, the same for both processes (each listens on a port of its own). */
const PUBLIC_URL = "http://session-control.test";
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString("base64")}`;
const SESSIONS = 3;

/**
 * The service runs as a child process and is killed with SIGKILL after it has answered the
 * Terminate calls and before any receiver has accepted their notices: one receiver holds the
 * requests open (they are in flight at the kill), the others are down. Restarted on the same
 * data directory, it delivers every notice, once per jti.
 */
describe("a notice of an acknowledged termination survives SIGKILL", { timeout: childTestTimeout(2) }, () => {
  let setup: ChildSetup | undefined;
  const receivers: SetReceiver[] = [];

  afterEach(async () => {
    killAllChildren();
    setup?.cleanup();
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  it("is delivered after a restart on the same data directory, once per jti, with the jti of the attempt the kill cut off", async () => {
    const [held, down, hook] = await Promise.all([SetReceiver.ssf("complex"), SetReceiver.ssf("opaque"), SetReceiver.webhook(WEBHOOK_SECRET)]);
    receivers.push(held!, down!, hook!);
    held!.answer = "hang";
    await Promise.all([down!.down(), hook!.down()]);

    setup = childSetup(
      {
        public_url: PUBLIC_URL,
        server: { shutdown_grace_ms: 0 },
        notifications: {
          receivers: [
            { name: "held", kind: "ssf", endpoint: held!.url },
            { name: "down", kind: "ssf", endpoint: down!.url, subject_format: "opaque" },
            { name: "hook", kind: "webhook", endpoint: hook!.url, secret: "env:NK_WEBHOOK_SECRET" },
          ],
          poll_ms: 50,
          lease_ms: 31_000,
          request_timeout_ms: 30_000,
          concurrency_per_receiver: 4,
          retry_initial_ms: 50,
          retry_max_ms: 200,
        },
      },
      { NK_WEBHOOK_SECRET: WEBHOOK_SECRET },
    );
    const first = await startChild(setup);
    const keysBefore = await jwks(first);

    const user = `u-${randomBytes(6).toString("hex")}`;
    const sessions: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const created = await first.client.createSession({ userId: user }, { headers: setup.headers, timeoutMs: 5_000 });
      const ended = await first.client.terminate({ sessionId: created.sessionId, reason: "kill test" }, { headers: setup.headers, timeoutMs: 5_000 });
      expect(ended.alreadyTerminated).toBe(false);
      sessions.push(created.sessionId);
    }
    // Notices are on the wire to the held receiver, unanswered: SIGKILL.
    await until(() => `a request in flight to the held receiver (has ${held!.hits.length})`, () => held!.holding() >= 1);
    await first.kill();
    const inFlight = new Set(held!.hits.map((h) => h.id));
    expect(held!.sets).toEqual([]);
    expect(held!.hits.every((h) => h.status === undefined)).toBe(true);

    held!.answer = { status: 202 };
    await Promise.all([down!.up(), hook!.up()]);
    const second = await startChild(setup);
    // The key was kept with the store: the same one signs after the restart.
    expect(await jwks(second)).toEqual(keysBefore);
    for (const [r, audience] of [[held!, held!.origin], [down!, down!.origin]] as const) r.trust({ issuer: PUBLIC_URL, jwksUrl: `${second.baseUrl}/jwks.json`, audience });

    await until(
      () => `every notice accepted: held ${held!.revoked().length}, down ${down!.revoked().length}, hook ${hook!.uniqueWebhooks().length}; problems: ${[...held!.problems, ...down!.problems, ...hook!.problems].join("; ")}`,
      () => held!.revoked().length === SESSIONS && down!.revoked().length === SESSIONS && hook!.uniqueWebhooks().length === SESSIONS,
    );
    expect(held!.revoked().map((s) => s.claims.sub_id.session?.id).sort()).toEqual([...sessions].sort());
    // The attempts the kill cut off were made again with their jti.
    const accepted = new Set(held!.revoked().map((s) => s.claims.jti));
    for (const jti of inFlight) expect(accepted).toContain(jti);
    for (const s of down!.revoked()) expect(s.claims.sub_id).toEqual({ format: "opaque", id: user });
    expect(hook!.uniqueWebhooks().map((w) => w.body.data.session_id).sort()).toEqual([...sessions].sort());

    // One more end, delivered after them: by then no notice has come twice.
    const marker = await second.client.createSession({ userId: `${user}-marker` }, { headers: setup.headers, timeoutMs: 5_000 });
    await second.client.terminate({ sessionId: marker.sessionId }, { headers: setup.headers, timeoutMs: 5_000 });
    await until("the marker's notice at every receiver", () => held!.revoked().length > SESSIONS && down!.revoked().length > SESSIONS && hook!.uniqueWebhooks().length > SESSIONS);
    for (const r of [held!, down!, hook!]) {
      expect([...r.acceptedCounts().values()].every((n) => n === 1)).toBe(true);
      expect(r.problems).toEqual([]);
    }
    const deliveries = await listDeliveries(second.baseUrl, setup.key);
    expect(deliveries.filter((d) => d.state !== "delivered")).toEqual([]);
    expect(deliveries).toHaveLength(3 * (SESSIONS + 1));
    await second.kill();
  });
});

async function jwks(svc: ChildService): Promise<unknown> {
  const res = await fetch(`${svc.baseUrl}/jwks.json`);
  expect(res.status).toBe(200);
  return res.json();
}
