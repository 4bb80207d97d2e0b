import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import type { Principal } from "../../src/auth/principal.js";
import type { Provider, TerminateCall } from "../../src/providers/provider.js";
import { recordTerminations } from "../../src/sessions/audit-trail.js";
import { EndSession } from "../../src/sessions/end-session.js";
import { TerminationEvents, type SessionEnded, type TerminationFailed } from "../../src/sessions/termination-events.js";
import { Failure } from "../../src/status/failure.js";
import { ProviderFailure } from "../../src/status/provider-failure.js";
import type { MappingTable } from "../../src/status/table.js";
import type { AuditEvent, AuditStore } from "../../src/store/store.js";

const TABLE: MappingTable = [{ when: { httpStatus: 404 }, answer: "HTTP 404", code: Code.NotFound, reason: "SESSION_NOT_FOUND" }];
const ADMIN: Principal = { name: "admin", permissions: new Set(["session.delete"]) };
const TOKEN_HOLDER: Principal = { name: "app", permissions: new Set() };

/** An upstream that ends sessions it knows and answers 404 to others; it counts its calls. */
function upstream(known: Set<string>): Provider & { calls: TerminateCall[] } {
  const calls: TerminateCall[] = [];
  return {
    name: "up",
    type: "fake",
    table: TABLE,
    verifiesTokens: true,
    calls,
    checkOptions: () => [],
    async terminate(call) {
      calls.push(call);
      if (!known.delete(call.sessionId)) throw new ProviderFailure("up", { httpStatus: 404, message: "no such session" }, TABLE);
      return { details: { sequence: 7n, resourceOwner: "org", changeDate: new Date(1000) }, alreadyTerminated: false };
    },
    listUserSessions: async () => ({ sessions: [], complete: true }),
  };
}

/** The audit trail in memory, looked up as the stores do. */
function memoryAudit(): AuditStore & { rows: AuditEvent[] } {
  const rows: AuditEvent[] = [];
  return {
    rows,
    recordEvent: async (e) => void rows.push(e),
    findEventByRequestId: async (scope, id) => rows.filter((r) => r.requestScope === scope && r.requestId === id).at(-1),
    findTermination: async (provider, sessionId) => rows.find((r) => r.provider === provider && r.sessionId === sessionId && r.code === "OK"),
    listEvents: async () => [],
    deleteEventsBefore: async () => 0,
  };
}

function setUp(known: string[]) {
  const audit = memoryAudit();
  const events = new TerminationEvents();
  recordTerminations(audit, events);
  const ended: SessionEnded[] = [];
  const failed: TerminationFailed[] = [];
  events.onEnded((e) => void ended.push(e)).onFailed((e) => void failed.push(e));
  const provider = upstream(new Set(known));
  const endSession = new EndSession([provider], "up", audit, events);
  return { audit, ended, failed, provider, endSession };
}

const call = () => ({ signal: new AbortController().signal });
const REQUEST_ID = "0b7c7d0e-8f4a-4c1e-9d55-3a2f1b6c9e10";

describe("EndSession publishes each outcome once", () => {
  it("an upstream end: one SessionEnded with who, why, user, session, provider, request id and time, audited once", async () => {
    const { audit, ended, failed, endSession } = setUp(["s1"]);
    const before = Date.now();
    const result = await endSession.run(ADMIN, { sessionId: "s1", userId: "u1", reason: "incident 42", requestId: REQUEST_ID }, call());
    expect(result).toMatchObject({ provider: "up", alreadyTerminated: false, details: { sequence: 7n } });
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ principal: "admin", reason: "incident 42", userId: "u1", sessionId: "s1", provider: "up", requestId: REQUEST_ID, alreadyEnded: false, recorded: false });
    expect(ended[0]!.time.getTime()).toBeGreaterThanOrEqual(before);
    expect(failed).toHaveLength(0);
    expect(audit.rows.map((r) => [r.code, r.sessionId, r.requestScope])).toEqual([["OK", "s1", "principal:admin"]]);
  });

  it("a replayed request id is answered from the trail: the upstream is not called and nothing is published again", async () => {
    const { audit, ended, provider, endSession } = setUp(["s1"]);
    await endSession.run(ADMIN, { sessionId: "s1", requestId: REQUEST_ID }, call());
    const again = await endSession.run(ADMIN, { sessionId: "s1", requestId: REQUEST_ID }, call());
    expect(again).toMatchObject({ provider: "up", alreadyTerminated: false, details: { sequence: 7n } });
    expect(provider.calls).toHaveLength(1);
    expect(ended).toHaveLength(1);
    expect(audit.rows).toHaveLength(1);
  });

  it("an upstream that no longer knows a session this service ended: ended again (already), for a caller with session.delete", async () => {
    const { ended, failed, endSession } = setUp(["s1"]);
    await endSession.run(ADMIN, { sessionId: "s1" }, call());
    const again = await endSession.run(ADMIN, { sessionId: "s1" }, call());
    expect(again.alreadyTerminated).toBe(true);
    expect(ended.map((e) => e.alreadyEnded)).toEqual([false, true]);
    expect(failed).toHaveLength(0);
  });

  it("a token holder gets one refusal for an unknown session; the trail keeps the upstream's answer, unscoped", async () => {
    const { audit, ended, failed, endSession } = setUp([]);
    const err = await endSession.run(TOKEN_HOLDER, { sessionId: "nope", sessionToken: "t", requestId: REQUEST_ID }, call()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Failure);
    expect(err).toMatchObject({ code: "PERMISSION_DENIED", reason: "PERMISSION_DENIED" });
    expect(ended).toHaveLength(0);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.failure).toMatchObject({ code: "NOT_FOUND", reason: "SESSION_NOT_FOUND", domain: "up" });
    expect(audit.rows).toHaveLength(1);
    expect(audit.rows[0]).toMatchObject({ code: "NOT_FOUND", error: { reason: "SESSION_NOT_FOUND", message: "up: no such session", metadata: { upstream_status: "404" } } });
    expect(audit.rows[0]!.requestScope).toBeUndefined();
  });
});
