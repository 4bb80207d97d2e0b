import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { base32Decode, totp } from "../../src/auth/totp.js";
import { keepErrorTexts } from "../helpers/errors.js";
import { bearer, grpcClient, startTestService, STEPUP_TOTP_SECRET, type Role, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

const STEP_MS = 30_000;
const KEY = base32Decode(STEPUP_TOTP_SECRET)!;

let svc: TestService;
let client: Client<typeof SessionControl>;
const { failure, texts: errorTexts } = keepErrorTexts();
/** Every code sent in this file, searched for in the logs at the end. */
const codesSent = new Set<string>();
let users = 0;

beforeAll(async () => {
  svc = await startTestService({}, { operations: { poll_ms: 50, lease_ms: 2000, retry_initial_ms: 100 } });
  client = grpcClient(svc);
});
afterAll(async () => {
  await svc?.stop();
});

/** The code of the step `offset` steps from now. */
const codeAt = (offset: number, now = Date.now()) => totp(KEY, now + offset * STEP_MS);

/** Waits, when needed, so that at least `ms` are left in the current 30 s step: the test's codes stay where it put them. */
async function awayFromStepEnd(ms = 5_000): Promise<void> {
  await until(`at least ${ms} ms left in the current TOTP step`, () => STEP_MS - (Date.now() % STEP_MS) >= ms, { timeoutMs: ms + 1_000, everyMs: 20 });
}

/** A user with one session in the embedded store. */
async function userWithSession(): Promise<{ user: string; sessionId: string }> {
  const user = `stepup-user-${++users}`;
  const { sessionId } = await client.createSession({ userId: user }, { headers: bearer(svc.keys.admin) });
  return { user, sessionId };
}

function terminateUser(user: string, role: Role, code?: string) {
  if (code !== undefined) codesSent.add(code);
  return client.terminateUser({ userId: user, reason: "step-up test" }, { headers: { ...bearer(svc.keys[role]), ...(code !== undefined && { "x-2fa-code": code }) } });
}

/** Checks an UNAUTHENTICATED refusal with its reason, and that the user's session is still live and no operation was recorded. */
async function expectRefused(call: Promise<unknown>, reason: string, user: string, sessionId: string): Promise<void> {
  const err = await failure(call);
  expect(err.code).toBe(Code.Unauthenticated);
  const infos = err.findDetails(ErrorInfoSchema);
  expect(infos.map((i) => [i.reason, i.domain])).toEqual([[reason, "session-control"]]);
  const { session } = await client.getSession({ sessionId }, { headers: bearer(svc.keys.admin) });
  expect(session?.termination).toBeUndefined();
  expect((await client.listOperations({ userId: user }, { headers: bearer(svc.keys.admin) })).operations).toEqual([]);
}

describe("step-up 2FA on TerminateUser", () => {
  it("refuses a key with a TOTP secret that sends no code: UNAUTHENTICATED, TOTP_REQUIRED", async () => {
    const { user, sessionId } = await userWithSession();
    await expectRefused(terminateUser(user, "stepup"), "TOTP_REQUIRED", user, sessionId);
    await expectRefused(terminateUser(user, "stepup", ""), "TOTP_REQUIRED", user, sessionId);
  });

  it("refuses wrong codes (TOTP_INVALID), accepts the right code once, refuses it again (TOTP_REUSED), and accepts the previous step's code once", async () => {
    await awayFromStepEnd(3_000);
    const now = Date.now();
    const [previous, current, next] = [codeAt(-1, now), codeAt(0, now), codeAt(1, now)];
    const valid = new Set([previous, current, next]);

    // Wrong: a code of no step in the window, codes of steps outside it, codes that are no codes.
    const first = await userWithSession();
    let wrong = "000000";
    for (let n = 0; valid.has(wrong); n++) wrong = String(n).padStart(6, "0");
    await expectRefused(terminateUser(first.user, "stepup", wrong), "TOTP_INVALID", first.user, first.sessionId);
    for (const offset of [-3, -2, 2, 3]) {
      const code = codeAt(offset, now);
      if (!valid.has(code)) await expectRefused(terminateUser(first.user, "stepup", code), "TOTP_INVALID", first.user, first.sessionId);
    }
    for (const code of [current.slice(0, 5), `${current}0`, `${current.slice(0, 3)} ${current.slice(3)}`, "abcdef"]) {
      await expectRefused(terminateUser(first.user, "stepup", code), "TOTP_INVALID", first.user, first.sessionId);
    }

    // Right: works (the wrong codes used up nothing), once.
    const { operation } = await terminateUser(first.user, "stepup", current);
    expect(operation?.done).toBe(true);
    expect(operation?.principal).toBe("stepup");
    expect(operation?.providers.map((p) => [p.provider, p.sessionsEnded])).toEqual([["local", 1]]);
    const { session } = await client.getSession({ sessionId: first.sessionId }, { headers: bearer(svc.keys.admin) });
    expect(session?.termination?.terminatedBy).toBe("stepup");

    const second = await userWithSession();
    await expectRefused(terminateUser(second.user, "stepup", current), "TOTP_REUSED", second.user, second.sessionId);

    // The window: the code of the step before (typed just before the step turned) is good, once.
    const { operation: byPrevious } = await terminateUser(second.user, "stepup", previous);
    expect(byPrevious?.done).toBe(true);
    expect(byPrevious?.providers.map((p) => [p.provider, p.sessionsEnded])).toEqual([["local", 1]]);
    const third = await userWithSession();
    await expectRefused(terminateUser(third.user, "stepup", previous), "TOTP_REUSED", third.user, third.sessionId);
    await expectRefused(terminateUser(third.user, "stepup", current), "TOTP_REUSED", third.user, third.sessionId);
  });

  it("refuses a code whose use raced another call with the same code: one of the two succeeds", async () => {
    // The previous test used the current step and the one before: the step after (a clock a little ahead) is unused, and good once.
    const code = codeAt(1);
    const a = await userWithSession();
    const b = await userWithSession();
    const results = await Promise.allSettled([terminateUser(a.user, "stepup", code), terminateUser(b.user, "stepup", code)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    const err = await failure(Promise.reject(refused.reason as Error));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("TOTP_REUSED");
  });

  it("asks nothing of keys without a TOTP secret, and ignores a code they send", async () => {
    for (const [role, code] of [["admin", undefined], ["deleter", undefined], ["admin", "123456"], ["admin", "not-a-code"]] as const) {
      const { user, sessionId } = await userWithSession();
      const { operation } = await terminateUser(user, role, code);
      expect(operation?.done).toBe(true);
      expect(operation?.principal).toBe(role);
      const { session } = await client.getSession({ sessionId }, { headers: bearer(svc.keys.admin) });
      expect(session?.termination?.terminatedBy).toBe(role);
    }
  });

  it("checks the permission before the second factor", async () => {
    const { user } = await userWithSession();
    const err = await failure(terminateUser(user, "reader"));
    expect(err.code).toBe(Code.PermissionDenied);
    expect((await failure(client.terminateUser({ userId: user }))).code).toBe(Code.Unauthenticated);
  });

  it("never shows the TOTP secret, or a code, in logs or error messages", async () => {
    const decoded = [KEY.toString("hex"), KEY.toString("base64"), KEY.toString("latin1")];
    expect(errorTexts.length).toBeGreaterThan(10);
    expect(codesSent.size).toBeGreaterThan(5);
    const logs = svc.logText();
    expect(logs).toContain('"principal":"stepup"');
    for (const secret of [STEPUP_TOTP_SECRET, STEPUP_TOTP_SECRET.toLowerCase(), ...decoded]) {
      expect(logs).not.toContain(secret);
      for (const t of errorTexts) expect(t).not.toContain(secret);
    }
    for (const code of codesSent) {
      if (code.trim().length < 5) continue;
      expect(logs).not.toContain(JSON.stringify(code));
      for (const t of errorTexts) expect(t).not.toContain(code);
    }
  });
});
