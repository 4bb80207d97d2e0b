import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl, type Delivery, type ListDeliveriesRequestSchema } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import type { SessionRevokedNotice } from "../../src/store/outbox-types.js";
import { SqliteStores } from "../../src/store/sqlite.js";
import { closedPort } from "../helpers/closed-port.js";
import { failure } from "../helpers/errors.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";

/* ListDeliveries through a real server and client: the deliveries that ends queue for the configured receivers (issue 10). */

let svc: TestService;
let client: Client<typeof SessionControl>;
const as = (role: Role) => ({ headers: bearer(svc.keys[role]) });
/** The session ended for each user, and the TerminateUser operation's id. */
const ended: Record<string, string> = {};
let operationId = "";

async function list(req: MessageInitShape<typeof ListDeliveriesRequestSchema> = {}, role: Role = "reader"): Promise<Delivery[]> {
  const out: Delivery[] = [];
  let pageToken = "";
  do {
    const page = await client.listDeliveries({ ...req, pageToken }, as(role));
    out.push(...page.deliveries);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

beforeAll(async () => {
  // Receivers nothing listens at: whatever sends deliveries, they stay pending.
  const port = await closedPort();
  svc = await startTestService({}, {
    notifications: {
      receivers: [
        { name: "ssf-a", kind: "ssf", endpoint: `http://127.0.0.1:${port}/a` },
        { name: "ssf-b", kind: "ssf", endpoint: `http://127.0.0.1:${port}/b`, max_age_ms: 60_000 },
      ],
    },
  });
  client = grpcClient(svc);
  const create = async (userId: string) => client.createSession({ userId, resourceOwner: `org-${userId}` }, as("admin"));
  const alice = await create("alice");
  await client.terminate({ sessionId: alice.sessionId }, as("alice"));
  const bob = await create("bob");
  await client.terminate({ sessionId: bob.sessionId, reason: "left the company" }, as("admin"));
  // Ended again: already terminated, announced once.
  await client.terminate({ sessionId: bob.sessionId }, as("admin"));
  const carol = await create("carol");
  await client.terminate({ sessionId: carol.sessionId, sessionToken: carol.sessionToken }, as("nobody"));
  const erin = await create("erin");
  const op = await client.terminateUser({ userId: "erin", reason: "compromised" }, as("admin"));
  expect(op.operation?.done).toBe(true);
  Object.assign(ended, { alice: alice.sessionId, bob: bob.sessionId, carol: carol.sessionId, erin: erin.sessionId });
  operationId = op.operation!.id;
});

afterAll(async () => {
  await svc?.stop();
});

describe("ListDeliveries", () => {
  it("lists each first end's delivery to each receiver, newest first, and the user's once TerminateUser is done", async () => {
    const all = await list();
    // alice, bob, carol, erin's session, erin as a whole: two receivers each.
    expect(all).toHaveLength(10);
    expect(all.map((d) => `${d.userId}/${d.sessionId}`).filter((_, i) => i % 2 === 0)).toEqual([
      "erin/",
      `erin/${ended["erin"]}`,
      `carol/${ended["carol"]}`,
      `bob/${ended["bob"]}`,
      `alice/${ended["alice"]}`,
    ]);
    expect(new Set(all.map((d) => d.jti)).size).toBe(10);
    for (const d of all) {
      expect(d.jti).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(d).toMatchObject({ kind: "session-revoked", state: "pending" });
      expect(["receiver:ssf-a", "receiver:ssf-b"]).toContain(d.receiver);
      const age = timestampMs(d.expireTime!) - timestampMs(d.createTime!);
      expect(age).toBe(d.receiver === "receiver:ssf-a" ? 24 * 3_600_000 : 60_000);
      expect(d.nextAttemptTime).toBeDefined();
    }
  });

  it("says who started each end, in the notices themselves", async () => {
    const store = SqliteStores.open(svc.dataDir);
    const deliveries = await store.outbox.listDeliveries({ subscriber: "receiver:ssf-a", limit: 100 });
    await store.close();
    const notices = deliveries.map((d) => d.notice as SessionRevokedNotice);
    const of = (userId: string) => notices.filter((n) => n.userId === userId).map((n) => [n.sessionId ?? "(user)", n.initiatingEntity, n.reason ?? "", n.txn === operationId]);
    // Her own user id; the admin; a session's own token; TerminateUser's work and its end, both with the operation as txn.
    expect(of("alice")).toEqual([[ended["alice"], "user", "", false]]);
    expect(of("bob")).toEqual([[ended["bob"], "admin", "left the company", false]]);
    expect(of("carol")).toEqual([[ended["carol"], "user", "", false]]);
    expect(of("erin")).toEqual([
      ["(user)", "admin", "compromised", true],
      [ended["erin"], "admin", "compromised", true],
    ]);
    expect(notices.find((n) => n.userId === "bob")!.tenant).toBe("org-bob");
  });

  it("filters by receiver and state, and pages with tokens bound to the filters", async () => {
    const b = await list({ receiver: "receiver:ssf-b" });
    expect(b).toHaveLength(5);
    expect(b.every((d) => d.receiver === "receiver:ssf-b")).toBe(true);
    expect(await list({ state: "pending", receiver: "receiver:ssf-a" })).toHaveLength(5);
    expect(await list({ state: "delivered" })).toEqual([]);
    expect(await list({ receiver: "stream:unknown" })).toEqual([]);
    const first = await client.listDeliveries({ pageSize: 3 }, as("reader"));
    expect(first.deliveries).toHaveLength(3);
    const rest = await list({ pageSize: 3 });
    expect(rest.map((d) => d.jti)).toEqual((await list()).map((d) => d.jti));
    const second = await client.listDeliveries({ pageSize: 3, pageToken: first.nextPageToken }, as("reader"));
    expect(second.deliveries.map((d) => d.jti)).toEqual(rest.slice(3, 6).map((d) => d.jti));
    const elsewhere = await failure(client.listDeliveries({ receiver: "receiver:ssf-a", pageToken: first.nextPageToken }, as("reader")));
    expect(elsewhere.code).toBe(Code.InvalidArgument);
  });

  it("refuses a state or receiver it does not know, naming the field", async () => {
    for (const [req, field] of [
      [{ state: "sent" }, "state"],
      [{ receiver: "ssf-a" }, "receiver"],
      [{ receiver: `stream:${"x".repeat(201)}` }, "receiver"],
    ] as const) {
      const err = await failure(client.listDeliveries(req, as("reader")));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual([field]);
    }
  });

  it("needs session.read: PERMISSION_DENIED for others, UNAUTHENTICATED without a key", async () => {
    for (const role of ["deleter", "nobody", "alice"] as const) {
      const err = await failure(client.listDeliveries({}, as(role)));
      expect(err.code).toBe(Code.PermissionDenied);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("PERMISSION_DENIED");
    }
    expect((await failure(client.listDeliveries({}))).code).toBe(Code.Unauthenticated);
    expect(await list({}, "admin")).toHaveLength(10);
  });
});
