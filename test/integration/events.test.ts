import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl, type Event, type ListEventsRequestSchema } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { FakeLuckyMonaco, SUCCESS } from "../fakes/luckymonaco.js";
import { failure } from "../helpers/errors.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";
import { nextMillisecond } from "../helpers/wait.js";

let casino: FakeLuckyMonaco;
let svc: TestService;
let client: Client<typeof SessionControl>;

/** What each recorded attempt was, in the order they were made (oldest first). */
interface Made {
  name: string;
  principal: string;
  provider: string;
  sessionId: string;
  userId: string;
  requestId: string;
  reason: string;
  code: string;
  errorReason: string;
  alreadyTerminated: boolean;
  /** Set for the fan-out's event. */
  fromOperation: boolean;
}
const made: Made[] = [];
/** Every event, as ListEvents lists them (newest first). */
let all: Event[] = [];
let operationId = "";

const as = (role: Role) => ({ headers: bearer(svc.keys[role]) });
type Filter = MessageInitShape<typeof ListEventsRequestSchema>;

beforeAll(async () => {
  casino = await FakeLuckyMonaco.start();
  process.env["EV_LM_TOKEN"] = `lm-${randomUUID()}`;
  svc = await startTestService({}, {
    providers: [
      { name: "local", type: "local" },
      { name: "casino", type: "luckymonaco", base_url: casino.url, secure_login: "p-1", token: "env:EV_LM_TOKEN", max_attempts: 1, breaker_failures: 1000 },
    ],
    operations: { poll_ms: 50, lease_ms: 2000, retry_initial_ms: 100 },
  });
  client = grpcClient(svc);

  const local = async (user: string) => (await client.createSession({ userId: user }, as("admin"))).sessionId;
  const [a1, a2, b1, a3] = [await local("ann"), await local("ann"), await local("bob"), await local("ann")];
  /** Ends a session with Terminate, noting what the event must say; distinct milliseconds per event. */
  const terminate = async (name: string, role: Role, provider: string, sessionId: string, userId: string, expect: Pick<Made, "code" | "errorReason" | "alreadyTerminated">) => {
    await nextMillisecond();
    const requestId = randomUUID();
    const reason = `reason of ${name}`;
    await client.terminate({ sessionId, provider, userId, requestId, reason }, as(role)).catch(() => undefined);
    made.push({ name, principal: role, provider, sessionId, userId, requestId, reason, fromOperation: false, ...expect });
  };
  const ok = { code: "OK", errorReason: "", alreadyTerminated: false };
  await terminate("e1", "admin", "local", a1, "ann", ok);
  await terminate("e2", "deleter", "local", a2, "ann", ok);
  await terminate("e3", "admin", "local", b1, "bob", ok);
  await terminate("e4", "admin", "casino", "ann", "ann", ok);
  casino.answerOnce({ body: { error: 999, description: "Internal error" } });
  await terminate("e5", "stepup", "casino", "bob", "bob", { code: "INTERNAL", errorReason: "UPSTREAM_INTERNAL_ERROR", alreadyTerminated: false });
  await terminate("e6", "admin", "local", "no-such-session", "carl", { code: "NOT_FOUND", errorReason: "SESSION_NOT_FOUND", alreadyTerminated: false });
  await terminate("e7", "deleter", "local", a1, "ann", { code: "OK", errorReason: "", alreadyTerminated: true });
  await nextMillisecond();
  // The fan-out ends ann's last live local session.
  const requestId = randomUUID();
  const { operation } = await client.terminateUser({ userId: "ann", providers: ["local"], reason: "reason of e8", requestId }, as("admin"));
  operationId = operation!.id;
  made.push({ name: "e8", principal: "admin", provider: "local", sessionId: a3, userId: "ann", requestId: "", reason: "reason of e8", code: "OK", errorReason: "", alreadyTerminated: false, fromOperation: true });
  casino.answerAlways(SUCCESS);

  all = (await client.listEvents({ pageSize: 1000 }, as("reader"))).events;
});
afterAll(async () => {
  await svc?.stop();
  await casino?.close();
});

/** The names of the listed events, by matching them to what was made. */
function names(events: Event[]): string[] {
  return events.map((e) => {
    const m = made.find((x) => x.sessionId === e.sessionId && x.provider === e.provider && x.principal === e.principal && x.reason === e.reason);
    return m?.name ?? `unknown:${e.sessionId}`;
  });
}

/** The names, newest first, of what was made and passes `keep`. */
const expected = (keep: (m: Made) => boolean) => made.filter(keep).map((m) => m.name).reverse();

async function list(filter: Filter, role: Role = "reader"): Promise<Event[]> {
  return (await client.listEvents({ pageSize: 1000, ...filter }, as(role))).events;
}

const timeOf = (name: string): Timestamp => all[names(all).indexOf(name)]!.time!;

describe("ListEvents: what the audit trail records", () => {
  it("records every attempt, newest first, with who, what, where, when, why and the result", async () => {
    expect(names(all)).toEqual(["e8", "e7", "e6", "e5", "e4", "e3", "e2", "e1"]);
    const ids = all.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => (a > b ? -1 : a < b ? 1 : 0)));
    expect(new Set(ids).size).toBe(ids.length);
    const times = all.map((e) => timestampDate(e.time!).getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
    for (const e of all) {
      const m = made.find((x) => x.name === names([e])[0])!;
      expect({ principal: e.principal, provider: e.provider, sessionId: e.sessionId, userId: e.userId, reason: e.reason, code: e.code, errorReason: e.errorReason, alreadyTerminated: e.alreadyTerminated }).toEqual({
        principal: m.principal,
        provider: m.provider,
        sessionId: m.sessionId,
        userId: m.userId,
        reason: m.reason,
        code: m.code,
        errorReason: m.errorReason,
        alreadyTerminated: m.alreadyTerminated,
      });
      if (m.fromOperation) {
        expect(e.operationId).toBe(operationId);
        expect(e.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      } else {
        expect(e.operationId).toBe("");
        expect(e.requestId).toBe(m.requestId);
      }
      expect(e.errorMessage === "").toBe(e.code === "OK");
    }
  });

  it("records failures with their code, ErrorInfo reason and message", async () => {
    const [e5] = await list({ provider: "casino", principal: "stepup" });
    expect(e5).toMatchObject({ code: "INTERNAL", errorReason: "UPSTREAM_INTERNAL_ERROR", sessionId: "bob", alreadyTerminated: false });
    expect(e5!.errorMessage).toContain("Internal error");
    const [e6] = await list({ sessionId: "no-such-session" });
    expect(e6).toMatchObject({ code: "NOT_FOUND", errorReason: "SESSION_NOT_FOUND", provider: "local", userId: "carl" });
    expect(e6!.errorMessage).not.toBe("");
  });
});

describe("ListEvents: filters", () => {
  it("filters by user", async () => {
    expect(names(await list({ userId: "ann" }))).toEqual(expected((m) => m.userId === "ann"));
    expect(names(await list({ userId: "bob" }))).toEqual(["e5", "e3"]);
    expect(await list({ userId: "nobody-at-all" })).toEqual([]);
  });

  it("filters by session", async () => {
    const a1 = made.find((m) => m.name === "e1")!.sessionId;
    expect(names(await list({ sessionId: a1 }))).toEqual(["e7", "e1"]);
    expect(names(await list({ sessionId: "ann" }))).toEqual(["e4"]);
  });

  it("filters by principal", async () => {
    expect(names(await list({ principal: "deleter" }))).toEqual(["e7", "e2"]);
    expect(names(await list({ principal: "admin" }))).toEqual(expected((m) => m.principal === "admin"));
    expect(await list({ principal: "reader" })).toEqual([]);
  });

  it("filters by provider", async () => {
    expect(names(await list({ provider: "casino" }))).toEqual(["e5", "e4"]);
    expect(names(await list({ provider: "local" }))).toEqual(expected((m) => m.provider === "local"));
  });

  it("filters by time range: start inclusive, end exclusive", async () => {
    expect(names(await list({ startTime: timeOf("e3"), endTime: timeOf("e6") }))).toEqual(["e5", "e4", "e3"]);
    expect(names(await list({ startTime: timeOf("e6") }))).toEqual(["e8", "e7", "e6"]);
    expect(names(await list({ endTime: timeOf("e2") }))).toEqual(["e1"]);
    expect(await list({ startTime: timeOf("e4"), endTime: timeOf("e4") })).toEqual([]);
    // One millisecond either way moves the bound past the event.
    const after = (t: Timestamp, ms: number) => timestampFromDate(new Date(timestampDate(t).getTime() + ms));
    expect(names(await list({ startTime: after(timeOf("e3"), 1), endTime: after(timeOf("e6"), 1) }))).toEqual(["e6", "e5", "e4"]);
    expect(await list({ startTime: after(timeOf("e8"), 1) })).toEqual([]);
  });

  it("combines filters: every one given must match", async () => {
    expect(names(await list({ userId: "ann", provider: "local", principal: "admin" }))).toEqual(["e8", "e1"]);
    expect(names(await list({ userId: "ann", provider: "casino" }))).toEqual(["e4"]);
    expect(await list({ userId: "bob", principal: "deleter" })).toEqual([]);
    expect(names(await list({ userId: "ann", startTime: timeOf("e2"), endTime: timeOf("e8") }))).toEqual(["e7", "e4", "e2"]);
  });
});

describe("ListEvents: paging", () => {
  async function pages(filter: Filter, pageSize: number): Promise<Event[][]> {
    const out: Event[][] = [];
    let pageToken = "";
    do {
      const page = await client.listEvents({ ...filter, pageSize, pageToken }, as("reader"));
      out.push(page.events);
      pageToken = page.nextPageToken;
    } while (pageToken && out.length < 20);
    return out;
  }

  it("pages with page_size and page_token, newest first, with no event twice or left out", async () => {
    const byThree = await pages({}, 3);
    expect(byThree.map((p) => p.length)).toEqual([3, 3, 2]);
    expect(byThree.flat()).toEqual(all);
    const annByOne = await pages({ userId: "ann" }, 1);
    expect(names(annByOne.flat())).toEqual(expected((m) => m.userId === "ann"));
    expect(annByOne.every((p) => p.length === 1)).toBe(true);
    // A page that ends exactly at the last event says so: no token.
    const byFour = await pages({}, 4);
    expect(byFour.map((p) => p.length)).toEqual([4, 4]);
    // page_size 0 means 100.
    const unsized = await client.listEvents({}, as("reader"));
    expect(unsized.events).toEqual(all);
    expect(unsized.nextPageToken).toBe("");
  });

  it("keeps a token to the filters it was issued for: INVALID_ARGUMENT otherwise", async () => {
    const first = await client.listEvents({ userId: "ann", pageSize: 2 }, as("reader"));
    expect(first.nextPageToken).not.toBe("");
    // The same filters with another page size go on.
    const next = await client.listEvents({ userId: "ann", pageSize: 5, pageToken: first.nextPageToken }, as("reader"));
    expect(names(next.events)).toEqual(expected((m) => m.userId === "ann").slice(2, 7));
    for (const other of [{ userId: "bob" }, {}, { userId: "ann", provider: "local" }, { userId: "ann", startTime: timeOf("e1") }, { userId: "ann", principal: "admin" }, { userId: "ann", sessionId: "x" }] as Filter[]) {
      const err = await failure(client.listEvents({ ...other, pageSize: 2, pageToken: first.nextPageToken }, as("reader")));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual(["page_token"]);
    }
    const ops = await client.listOperations({ pageSize: 1 }, as("reader"));
    for (const token of ["garbage", Buffer.from("{}").toString("base64url"), ops.nextPageToken || "x"]) {
      expect((await failure(client.listEvents({ pageToken: token }, as("reader")))).code).toBe(Code.InvalidArgument);
    }
  });
});

describe("ListEvents: who may read the audit trail", () => {
  it("needs session.read: PERMISSION_DENIED for others, UNAUTHENTICATED without a key", async () => {
    for (const role of ["deleter", "nobody", "alice"] as const) {
      const err = await failure(client.listEvents({}, as(role)));
      expect(err.code).toBe(Code.PermissionDenied);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("PERMISSION_DENIED");
    }
    // alice may not read even her own user's events.
    expect((await failure(client.listEvents({ userId: "alice" }, as("alice")))).code).toBe(Code.PermissionDenied);
    const anonymous = await failure(client.listEvents({}));
    expect(anonymous.code).toBe(Code.Unauthenticated);
    const wrongKey = await failure(client.listEvents({}, { headers: bearer("not-a-key") }));
    expect(wrongKey.code).toBe(Code.Unauthenticated);
    for (const role of ["reader", "admin", "stepup"] as const) expect((await list({}, role)).length).toBe(all.length);
  });
});
