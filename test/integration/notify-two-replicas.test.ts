import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { listDeliveries } from "../helpers/deliveries.js";
import { dropSchema, freshSchema, postgresSkipReason, storeUrl, withClient } from "../helpers/postgres.js";
import { counterValue } from "../helpers/metrics.js";
import { bearer, grpcClient, METRICS_WITH_TOKEN, startTestService, type TestService } from "../helpers/service.js";
import { SetReceiver } from "../helpers/set-receiver.js";
import { until } from "../helpers/wait.js";

const skip = await postgresSkipReason();

/** Both replicas are one issuer. */
const PUBLIC_URL = "http://session-control-replicas.test";
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString("base64")}`;
const SESSIONS = 20;

describe.skipIf(skip !== undefined)("two replicas on one PostgreSQL share the outbox", () => {
  let schema: string | undefined;
  const replicas: TestService[] = [];
  let ssf: SetReceiver;
  let hook: SetReceiver;

  beforeAll(async () => {
    process.env["N2R_WEBHOOK_SECRET"] = WEBHOOK_SECRET;
  });
  afterEach(async () => {
    await Promise.all(replicas.splice(0).map((r) => r.stop()));
    await Promise.all([ssf?.close(), hook?.close()]);
    if (schema) await dropSchema(schema);
  });
  afterAll(() => {
    delete process.env["N2R_WEBHOOK_SECRET"];
  });

  it("a backlog both replicas find when the receivers come back is delivered once per jti; both sign with the one key", async () => {
    [ssf, hook] = await Promise.all([SetReceiver.ssf("complex"), SetReceiver.webhook(WEBHOOK_SECRET)]);
    await Promise.all([ssf.down(), hook.down()]);
    schema = freshSchema();
    await withClient((c) => c.query(`CREATE SCHEMA ${schema}`));
    const config = {
      store: storeUrl(schema),
      public_url: PUBLIC_URL,
      metrics: METRICS_WITH_TOKEN,
      notifications: {
        receivers: [
          { name: "ssf", kind: "ssf", endpoint: ssf.url },
          { name: "hook", kind: "webhook", endpoint: hook.url, secret: "env:N2R_WEBHOOK_SECRET" },
        ],
        // Both replicas look for each other's work often, so that they compete for every delivery.
        poll_ms: 20,
        lease_ms: 5_000,
        request_timeout_ms: 2_000,
        retry_initial_ms: 50,
        retry_max_ms: 200,
      },
    };
    // One after the other: the first creates the tables and the key, the second finds them.
    replicas.push(await startTestService({ shutdown_grace_ms: 0 }, config));
    replicas.push(await startTestService({ shutdown_grace_ms: 0 }, config));
    const [a, b] = replicas as [TestService, TestService];
    const keysA = await (await fetch(`${a.baseUrl}/jwks.json`)).json();
    expect(await (await fetch(`${b.baseUrl}/jwks.json`)).json()).toEqual(keysA);
    // SETs from either replica verify against one replica's keys.
    ssf.trust({ issuer: PUBLIC_URL, jwksUrl: `${a.baseUrl}/jwks.json`, audience: ssf.origin });

    const user = `u-${randomBytes(6).toString("hex")}`;
    const sessions: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const via = i % 2 === 0 ? a : b;
      const client = grpcClient(via);
      const created = await client.createSession({ userId: user }, { headers: bearer(via.keys.admin), timeoutMs: 5_000 });
      await client.terminate({ sessionId: created.sessionId }, { headers: bearer(via.keys.admin), timeoutMs: 5_000 });
      sessions.push(created.sessionId);
    }
    // Every delivery was tried while the receivers were down; then they come back.
    await until("every delivery tried at least once", async () => {
      const all = await listDeliveries(a.baseUrl, a.keys.reader);
      return all.length === 2 * SESSIONS && all.every((d) => d.state === "pending" && d.attempts >= 1);
    });
    await Promise.all([ssf.up(), hook.up()]);

    await until(
      () => `every notice accepted: ssf ${ssf.revoked().length}, hook ${hook.uniqueWebhooks().length}; problems: ${[...ssf.problems, ...hook.problems].join("; ")}`,
      () => ssf.revoked().length === SESSIONS && hook.uniqueWebhooks().length === SESSIONS,
    );
    expect(ssf.revoked().map((s) => s.claims.sub_id.session?.id).sort()).toEqual([...sessions].sort());
    expect(hook.uniqueWebhooks().map((w) => w.body.data.session_id).sort()).toEqual([...sessions].sort());

    // A marker sent after the backlog: once it is in, no request of the backlog has come twice.
    const client = grpcClient(b);
    const marker = await client.createSession({ userId: `${user}-marker` }, { headers: bearer(b.keys.admin), timeoutMs: 5_000 });
    await client.terminate({ sessionId: marker.sessionId }, { headers: bearer(b.keys.admin), timeoutMs: 5_000 });
    await until("the marker at both receivers", () => ssf.revoked().length > SESSIONS && hook.uniqueWebhooks().length > SESSIONS);
    for (const r of [ssf, hook]) {
      const perId = new Map<string, number>();
      for (const h of r.hits) perId.set(h.id, (perId.get(h.id) ?? 0) + 1);
      expect(perId.size).toBe(SESSIONS + 1);
      expect([...perId].filter(([, n]) => n !== 1)).toEqual([]);
      expect(r.problems).toEqual([]);
    }
    // A receiver has the marker before its sender has recorded the 202: wait for the record.
    const all = await until("every delivery recorded as delivered", async () => {
      const listed = await listDeliveries(b.baseUrl, b.keys.reader);
      return listed.every((d) => d.state === "delivered") ? listed : undefined;
    });
    expect(all).toHaveLength(2 * (SESSIONS + 1));
    // Between them, the replicas counted each delivery delivered once.
    for (const receiver of ["ssf", "hook"]) {
      const counted = async () => (await Promise.all([a, b].map((r) => counterValue(r.baseUrl, "session_control_deliveries_total", { receiver, state: "delivered" })))).reduce((x, y) => x + y, 0);
      // Counted just after the record is written: wait for the count to come in, then hold it to exactly one each.
      await until(`${receiver}: ${SESSIONS + 1} deliveries counted`, async () => (await counted()) >= SESSIONS + 1);
      expect(await counted()).toBe(SESSIONS + 1);
    }
  });
});
