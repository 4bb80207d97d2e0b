import type { FakeAnswer, RecordedRequest } from "./http-fake.js";
import type { FakeRocketChat } from "./rocketchat.js";

/** What a Rocket.Chat workspace answers while it is down. */
const UNAVAILABLE: FakeAnswer = { status: 503, body: { success: false, error: "Service Unavailable" } };

/**
 * Counts, per session, the logout calls a FakeRocketChat received and how many of them actually
 * ended a logged-in session; can slow every answer down, and take the workspace down (503).
 */
export class EndLedger {
  /** Session ids of every logout call, in the order received. */
  readonly calls: string[] = [];
  /** Per session: the calls that ended it while it was logged in (1 when all went well). */
  readonly ended = new Map<string, number>();
  /** Calls for a session that was already logged out (404 "Session not found"). */
  notFound = 0;
  /** Calls answered 503 because the workspace was down. */
  refused = 0;
  /** Answers (logout and list) wait this long. */
  delayMs = 0;
  /** While true, logout answers 503 (the session is not touched). */
  logoutDown = false;
  /** While true, sessions/list.all answers 503. */
  listDown = false;

  constructor(private readonly fake: FakeRocketChat) {
    const logout = fake.logout.bind(fake);
    const listAll = fake.listAll.bind(fake);
    fake.logout = (r: RecordedRequest): FakeAnswer => {
      const id = String((r.body as { sessionId?: unknown } | undefined)?.sessionId ?? "");
      this.calls.push(id);
      if (this.logoutDown) {
        this.refused++;
        return { ...UNAVAILABLE, delayMs: this.delayMs };
      }
      const active = fake.sessions.get(id)?.loginToken !== undefined;
      const answer = logout(r);
      if (active) this.ended.set(id, (this.ended.get(id) ?? 0) + 1);
      else this.notFound++;
      return { ...answer, delayMs: this.delayMs };
    };
    fake.listAll = (r: RecordedRequest): FakeAnswer => (this.listDown ? { ...UNAVAILABLE, delayMs: this.delayMs } : { ...listAll(r), delayMs: this.delayMs });
  }

  /** Adds `n` logged-in sessions of `userId`: `${prefix}-000`, `${prefix}-001`, ... */
  addSessions(userId: string, n: number, prefix = userId): string[] {
    const ids = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, "0")}`);
    for (const sessionId of ids) this.fake.addSession({ sessionId, userId, loginToken: `lt-${sessionId}`, device: { name: "browser" } });
    return ids;
  }

  /** Sessions of the fake still logged in. */
  active(): string[] {
    return [...this.fake.sessions.values()].filter((s) => s.loginToken !== undefined).map((s) => s.sessionId);
  }

  /** Logout calls that got a 200, i.e. calls the service was told succeeded or would have been. */
  get endedTotal(): number {
    return [...this.ended.values()].reduce((a, b) => a + b, 0);
  }

  /** Logout requests the fake received whose answer was never completely sent (the caller went away). */
  unanswered(): RecordedRequest[] {
    return this.fake.requests.filter((r) => r.pathname === "/api/v1/sessions/logout" && (r.aborted || r.answer === undefined));
  }
}
