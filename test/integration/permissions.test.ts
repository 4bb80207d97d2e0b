import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl, type TerminateResponse } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { codeOf } from "../helpers/clients.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";

let svc: TestService;
let client: Client<typeof SessionControl>;

beforeAll(async () => {
  svc = await startTestService();
  client = grpcClient(svc);
});
afterAll(async () => {
  await svc.stop();
});

const as = (role: Role) => ({ headers: bearer(svc.keys[role]) });

interface Fixture {
  sessionId: string;
  sessionToken: string;
}

/** A session of `userId`, created by admin; ended by admin first when `ended`. */
async function fixture(row: Row, userId: string): Promise<Fixture> {
  if (row === "unknown") {
    // Well-formed, never issued (issued ids are 32 hex digits).
    return { sessionId: `unknown-${Math.random().toString(16).slice(2)}`, sessionToken: "any-token-at-all" };
  }
  const created = await client.createSession({ userId, resourceOwner: "org-perm" }, as("admin"));
  if (row === "ended") {
    const ended = await client.terminate({ sessionId: created.sessionId }, as("admin"));
    expect(ended.alreadyTerminated).toBe(false);
  }
  return { sessionId: created.sessionId, sessionToken: created.sessionToken };
}

/** Whether the session has been ended, as admin sees it. */
async function isEnded(sessionId: string): Promise<boolean> {
  return (await endedBy(sessionId)) !== undefined;
}

/** Who ended the session, as admin sees it. */
async function endedBy(sessionId: string): Promise<string | undefined> {
  const got = await client.getSession({ sessionId }, as("admin"));
  return got.session?.termination?.terminatedBy;
}

type Row = "active" | "ended" | "unknown";
type Column = "right token" | "wrong token" | "own user" | "session.delete" | "none";

interface Expected {
  code: Code | "ok";
  /** ErrorInfo reason for errors. */
  reason?: string;
}

const OK: Expected = { code: "ok" };
const DENIED: Expected = { code: Code.PermissionDenied, reason: "PERMISSION_DENIED" };
const NOT_FOUND: Expected = { code: Code.NotFound, reason: "SESSION_NOT_FOUND" };

const MATRIX: Record<Row, Record<Column, Expected>> = {
  // A wrong token gets the answer of any other refusal: it cannot tell an existing id from a missing one.
  active: { "right token": OK, "wrong token": DENIED, "own user": OK, "session.delete": OK, none: DENIED },
  ended: { "right token": OK, "wrong token": DENIED, "own user": OK, "session.delete": OK, none: DENIED },
  unknown: { "right token": DENIED, "wrong token": NOT_FOUND, "own user": DENIED, "session.delete": NOT_FOUND, none: DENIED },
};

/** Caller, owner of the session and token presented, per column. */
const COLUMNS: Record<Column, { caller: Role; owner: string; token: (f: Fixture) => string | undefined }> = {
  "right token": { caller: "nobody", owner: "bob", token: (f) => f.sessionToken },
  "wrong token": { caller: "deleter", owner: "bob", token: () => "wrong-token" },
  "own user": { caller: "alice", owner: "alice", token: () => undefined },
  "session.delete": { caller: "deleter", owner: "bob", token: () => undefined },
  none: { caller: "nobody", owner: "bob", token: () => undefined },
};

const cells = (Object.keys(MATRIX) as Row[]).flatMap((row) =>
  (Object.keys(COLUMNS) as Column[]).map((column) => {
    const expected = MATRIX[row][column];
    const outcome = expected.code === "ok" ? (row === "ended" ? "OK, already_terminated" : "OK") : `${Code[expected.code]} (${expected.reason})`;
    return { row, column, expected, outcome };
  }),
);

describe("Terminate permission matrix (connect-node gRPC)", () => {
  it("has 15 cells", () => {
    expect(cells).toHaveLength(15);
  });

  it.each(cells)("$row session, $column -> $outcome", async ({ row, column, expected }) => {
    const col = COLUMNS[column];
    const f = await fixture(row, col.owner);
    const token = col.token(f);
    const call = client.terminate({ sessionId: f.sessionId, ...(token !== undefined ? { sessionToken: token } : {}) }, as(col.caller));

    if (expected.code === "ok") {
      const res: TerminateResponse = await call;
      expect(res.alreadyTerminated).toBe(row === "ended");
      expect(res.provider).toBe("local");
      expect(res.details?.resourceOwner).toBe("org-perm");
      // Ending an ended session keeps the first termination.
      expect(await endedBy(f.sessionId)).toBe(row === "ended" ? "admin" : col.caller);
      return;
    }

    let error: unknown;
    try {
      await call;
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConnectError);
    const ce = error as ConnectError;
    expect(Code[ce.code]).toBe(Code[expected.code]);
    const infos = ce.findDetails(ErrorInfoSchema);
    expect(infos.map((i) => i.reason)).toEqual([expected.reason]);
    expect(infos[0]!.domain).toBe("local");
    // A refused call changes nothing.
    if (row === "active") expect(await isEnded(f.sessionId)).toBe(false);
    if (row === "ended") expect(await endedBy(f.sessionId)).toBe("admin");
  });
});

describe("the other methods' permissions", () => {
  let aliceSession: string;
  let bobSession: string;

  beforeAll(async () => {
    aliceSession = (await client.createSession({ userId: "alice", resourceOwner: "org-perm" }, as("admin"))).sessionId;
    bobSession = (await client.createSession({ userId: "bob", resourceOwner: "org-perm" }, as("admin"))).sessionId;
  });

  it("reader can read any session and list all", async () => {
    expect((await client.getSession({ sessionId: bobSession }, as("reader"))).session?.userId).toBe("bob");
    expect((await client.getSession({ sessionId: aliceSession }, as("reader"))).session?.userId).toBe("alice");
    const listed = await client.listSessions({}, as("reader"));
    expect(listed.sessions.map((s) => s.id)).toEqual(expect.arrayContaining([aliceSession, bobSession]));
  });

  it("reader gets NOT_FOUND for an unknown session", async () => {
    expect(await codeOf(client.getSession({ sessionId: "no-such-session" }, as("reader")))).toBe(Code.NotFound);
  });

  it("alice can read her own session", async () => {
    const got = await client.getSession({ sessionId: aliceSession }, as("alice"));
    expect(got.session?.id).toBe(aliceSession);
    expect(got.session?.userId).toBe("alice");
  });

  it("alice cannot read bob's session, nor probe unknown ids", async () => {
    expect(await codeOf(client.getSession({ sessionId: bobSession }, as("alice")))).toBe(Code.PermissionDenied);
    expect(await codeOf(client.getSession({ sessionId: "no-such-session" }, as("alice")))).toBe(Code.PermissionDenied);
  });

  it("alice can list her own sessions with user_id alice", async () => {
    const listed = await client.listSessions({ userId: "alice" }, as("alice"));
    expect(listed.sessions.length).toBeGreaterThan(0);
    expect(listed.sessions.map((s) => s.id)).toContain(aliceSession);
    expect(listed.sessions.every((s) => s.userId === "alice")).toBe(true);
  });

  it("alice cannot list bob's sessions or all sessions", async () => {
    expect(await codeOf(client.listSessions({ userId: "bob" }, as("alice")))).toBe(Code.PermissionDenied);
    expect(await codeOf(client.listSessions({}, as("alice")))).toBe(Code.PermissionDenied);
  });

  it("nobody can not read or list", async () => {
    expect(await codeOf(client.getSession({ sessionId: aliceSession }, as("nobody")))).toBe(Code.PermissionDenied);
    expect(await codeOf(client.listSessions({}, as("nobody")))).toBe(Code.PermissionDenied);
  });

  it("nobody, reader, deleter and alice cannot create a session; admin can", async () => {
    for (const role of ["nobody", "reader", "deleter", "alice"] as const) {
      const err = await client.createSession({ userId: "alice" }, as(role)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, role).toBeInstanceOf(ConnectError);
      expect(Code[(err as ConnectError).code], role).toBe("PermissionDenied");
      expect((err as ConnectError).findDetails(ErrorInfoSchema).map((i) => i.reason), role).toEqual(["PERMISSION_DENIED"]);
    }
    expect(await codeOf(client.createSession({ userId: "alice" }, as("admin")))).toBe("ok");
  });
});
