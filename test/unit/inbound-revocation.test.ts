import { describe, expect, it } from "vitest";
import type { EndAllSessions, OperationProgress } from "../../src/sessions/end-all-sessions.js";
import { InboundRevocation, type InboundRequest } from "../../src/sessions/inbound-revocation.js";
import { Failure } from "../../src/status/failure.js";
import type { WorkItem } from "../../src/store/operation-types.js";
import type { SeenTokenStore } from "../../src/store/store.js";

/** Token ids in memory, as the store keeps them. */
class MemorySeen implements SeenTokenStore {
  readonly ids = new Set<string>();
  async firstUse(issuer: string, jti: string): Promise<boolean> {
    const key = `${issuer} ${jti}`;
    if (this.ids.has(key)) return false;
    this.ids.add(key);
    return true;
  }
  async forget(issuer: string, jti: string): Promise<void> {
    this.ids.delete(`${issuer} ${jti}`);
  }
}

const subjects = { resolveSubject: async (s: unknown) => ((s as { email?: string }).email === "alice@example.com" ? "alice" : undefined) };

function request(over: Partial<InboundRequest> = {}): InboundRequest {
  return { issuer: "https://idp.example", jti: "j1", rememberUntil: new Date(Date.now() + 60_000), subject: { format: "email", email: "alice@example.com" }, subjectIssuers: ["https://idp.example"], reason: "r", act: true, ...over };
}

const KEY = Buffer.alloc(32, 7);

function progress(done: boolean, items: Pick<WorkItem, "kind" | "state" | "provider">[]): OperationProgress {
  return { operation: { id: "op-1", done } as OperationProgress["operation"], items: items as WorkItem[] };
}

describe("InboundRevocation", () => {
  it("starts TerminateUser for the resolved user as the issuer, with policy as the initiating entity, once per token id", async () => {
    const calls: unknown[][] = [];
    const endAll: Pick<EndAllSessions, "run"> = { run: async (...args) => (calls.push(args), progress(true, [{ kind: "list", state: "ended", provider: "local" }, { kind: "end", state: "ended", provider: "local" }])) };
    const inbound = new InboundRevocation(subjects, new MemorySeen(), endAll, KEY);
    expect(await inbound.handle(request())).toMatchObject({ kind: "started", unable: false });
    const [caller, input, call] = calls[0] as [{ name: string; permissions: Set<string> }, { userId: string; requestId: string }, { initiatingEntity: string; deadline: number }];
    expect([caller.name, [...caller.permissions], input.userId, call.initiatingEntity]).toEqual(["https://idp.example", ["session.delete"], "alice", "policy"]);
    // Derived from the token with the service's secret: the same token always names the same operation.
    expect(input.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(call.deadline).toBeGreaterThan(Date.now());
    const replay = await inbound.handle(request()).catch((e: unknown) => e);
    expect(replay).toMatchObject({ code: "UNAUTHENTICATED", reason: "TOKEN_REPLAYED" });
    expect(await inbound.handle(request({ jti: "j2", subject: { format: "email", email: "bob@example.com" } }))).toEqual({ kind: "unknown_subject" });
    expect(await inbound.handle(request({ jti: "j3", act: false }))).toEqual({ kind: "ignored" });
    expect(calls).toHaveLength(1);
  });

  it("is unable only when the operation is over, every provider's work failed, and not one session was ended", async () => {
    const l = (kind: "list" | "end", state: WorkItem["state"], provider = "casino") => ({ kind, state, provider });
    const cases: [OperationProgress, boolean][] = [
      [progress(true, [l("list", "ended"), l("end", "failed")]), true],
      [progress(true, [l("list", "failed"), l("list", "failed", "chat")]), true],
      // The embedded store had no sessions to end and the casino refused: not every provider failed.
      [progress(true, [l("list", "ended", "local"), l("list", "ended"), l("end", "failed")]), false],
      [progress(true, [l("list", "ended"), l("end", "failed"), l("end", "already_ended")]), false],
      [progress(false, [l("list", "failed"), l("list", "pending", "chat")]), false],
      [progress(true, [l("list", "ended")]), false],
    ];
    for (const [i, [answer, unable]] of cases.entries()) {
      const inbound = new InboundRevocation(subjects, new MemorySeen(), { run: async () => answer }, KEY);
      expect(await inbound.handle(request({ jti: `u${i}` })), String(i)).toMatchObject({ kind: "started", unable });
    }
  });

  it("forgets the token id when the request could not be carried out, so the same token may be sent again", async () => {
    let failing = true;
    const requestIds: string[] = [];
    const endAll: Pick<EndAllSessions, "run"> = {
      run: async (_caller, input) => {
        requestIds.push(input.requestId);
        if (failing) throw new Failure("UNAVAILABLE", "STORE_UNAVAILABLE", "the store is unavailable", { retryable: true });
        return progress(true, [{ kind: "list", state: "ended", provider: "local" }]);
      },
    };
    const seen = new MemorySeen();
    const inbound = new InboundRevocation(subjects, seen, endAll, KEY);
    expect(await inbound.handle(request()).catch((e: unknown) => e)).toMatchObject({ code: "UNAVAILABLE" });
    failing = false;
    expect(await inbound.handle(request())).toMatchObject({ kind: "started" });
    expect(new Set(requestIds).size).toBe(1);
    // A refusal of the request itself keeps the id used up.
    const invalid = new InboundRevocation({ resolveSubject: async () => { throw new Failure("INVALID_ARGUMENT", "SUBJECT_INVALID", "bad"); } }, seen, endAll, KEY);
    await invalid.handle(request({ jti: "bad" })).catch(() => undefined);
    expect(seen.ids.has("https://idp.example bad")).toBe(true);
  });
});
