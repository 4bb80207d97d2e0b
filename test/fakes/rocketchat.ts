import { HttpFake, type FakeAnswer, type RecordedRequest } from "./http-fake.js";

/** A session as Rocket.Chat's device management keeps it. */
export interface FakeSession {
  sessionId: string;
  userId: string;
  /** Present while the session is logged in. */
  loginToken?: string;
  device?: { name: string };
  logoutAt?: string;
  logoutBy?: string;
}

/** How the fake workspace is set up; tests change it between calls. */
export interface FakeWorkspace {
  /** Our admin user: X-User-Id and X-Auth-Token it accepts. */
  userId: string;
  authToken: string;
  /** Whether an x-2fa-code is right; undefined: the user has no second factor. */
  acceptsCode?: (code: string) => boolean;
  /** Permissions our admin user holds. */
  permissions: Set<"logout-device-management" | "view-device-management">;
  /** Device-management licence: valid, missing as Rocket.Chat 7 says it (400), or as 5.x/6.x say it (401). */
  licence: "valid" | "missing" | "missing-legacy";
}

/** Sessions per page at most, as Rocket.Chat's API_Upper_Count_Limit. */
const UPPER_COUNT_LIMIT = 100;

/**
 * A Rocket.Chat workspace on 127.0.0.1, port 0, serving `POST /api/v1/sessions/logout` and
 * `GET /api/v1/sessions/list.all` as Rocket.Chat does: authentication, then the second factor,
 * then permissions, then the licence, each refusal with Rocket.Chat's body. Bodies are indented
 * by four spaces, as the seed shows them. Programmed answers take precedence, one per request.
 */
export class FakeRocketChat extends HttpFake {
  readonly sessions = new Map<string, FakeSession>();
  workspace: FakeWorkspace = FakeRocketChat.defaultWorkspace();
  private readonly queue: FakeAnswer[] = [];

  private constructor() {
    super(4);
  }

  static defaultWorkspace(): FakeWorkspace {
    return { userId: "", authToken: "", permissions: new Set(["logout-device-management", "view-device-management"]), licence: "valid" };
  }

  static start(): Promise<FakeRocketChat> {
    return new FakeRocketChat().listen();
  }

  /** The next answers, one per request, instead of the fake's own. */
  answerOnce(...answers: FakeAnswer[]): void {
    this.queue.push(...answers);
  }

  /** Forgets requests, sessions and programmed answers; the workspace is set up as given. */
  reset(workspace: Partial<FakeWorkspace>): void {
    this.forget();
    this.sessions.clear();
    this.queue.length = 0;
    this.workspace = { ...FakeRocketChat.defaultWorkspace(), ...workspace };
  }

  addSession(s: FakeSession): void {
    this.sessions.set(s.sessionId, s);
  }

  /** What Rocket.Chat answers to this request, unless an answer is programmed. */
  protected answerTo(r: RecordedRequest): FakeAnswer {
    const queued = this.queue.shift();
    if (queued) return queued;
    const route = ROUTES[`${r.method} ${r.pathname}`];
    if (!route) return { status: 404, body: { success: false, error: "Not found" } };
    const w = this.workspace;
    if (r.headers["x-user-id"] !== w.userId || r.headers["x-auth-token"] !== w.authToken) return { status: 401, body: { status: "error", message: "You must be logged in to do this." } };
    if (w.acceptsCode) {
      const code = r.headers["x-2fa-code"];
      if (typeof code !== "string" || code === "") return failure("TOTP Required", "totp-required", { method: "totp", codeGenerated: false, availableMethods: ["totp"] });
      if (!w.acceptsCode(code)) return failure("TOTP Invalid", "totp-invalid", { method: "totp", codeGenerated: false });
    }
    if (!w.permissions.has(route.permission)) return { status: 403, body: { success: false, error: "User does not have the permissions required for this action [error-unauthorized]" } };
    if (w.licence === "missing") return failure("This is an enterprise feature", "error-action-not-allowed");
    if (w.licence === "missing-legacy") return { status: 401, body: { success: false, error: "unauthorized" } };
    return route.run(this, r);
  }

  logout(r: RecordedRequest): FakeAnswer {
    const sessionId = (r.body as { sessionId?: unknown } | undefined)?.sessionId;
    if (typeof sessionId !== "string") return failure("must have required property 'sessionId'", "invalid-params");
    const session = this.sessions.get(sessionId);
    if (!session?.loginToken) return { status: 404, body: { success: false, error: "Session not found" } };
    delete session.loginToken;
    session.logoutAt = new Date().toISOString();
    session.logoutBy = this.workspace.userId;
    return { body: { sessionId, success: true } };
  }

  /** Logged-in sessions whose id, user id or device name contain the (escaped) filter, newest Rocket.Chat's way. */
  listAll(r: RecordedRequest): FakeAnswer {
    const offset = Number(r.query.get("offset") ?? 0);
    const count = Math.min(Number(r.query.get("count") ?? 50), UPPER_COUNT_LIMIT);
    const filter = r.query.get("filter") ?? "";
    const all = [...this.sessions.values()].filter((s) => s.loginToken && (!filter || [s.sessionId, s.userId, s.device?.name ?? ""].some((f) => f.toLowerCase().includes(filter.toLowerCase()))));
    const sessions = all.slice(offset, offset + count).map(({ loginToken: _, ...s }) => s);
    return { body: { sessions, count: sessions.length, offset, total: all.length, success: true } };
  }
}

const ROUTES: Record<string, { permission: "logout-device-management" | "view-device-management"; run: (fake: FakeRocketChat, r: RecordedRequest) => FakeAnswer }> = {
  "POST /api/v1/sessions/logout": { permission: "logout-device-management", run: (fake, r) => fake.logout(r) },
  "GET /api/v1/sessions/list.all": { permission: "view-device-management", run: (fake, r) => fake.listAll(r) },
};

/** Rocket.Chat's API.v1.failure for a Meteor.Error: HTTP 400, "reason [error]", errorType and details. */
function failure(reason: string, errorType: string, details?: object): FakeAnswer {
  return { status: 400, body: { success: false, error: `${reason} [${errorType}]`, errorType, ...(details && { details }) } };
}
