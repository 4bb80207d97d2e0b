import { execFile } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { connectGrpcClient, type ClientUnderTest } from "../helpers/clients.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";

const BUF = join(process.cwd(), "node_modules", ".bin", "buf");
const H2C = ["--http2-prior-knowledge", "--protocol", "grpc"];

interface BufResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `buf curl` with a timeout; never rejects, so a test can look at a failure's output. */
function bufCurl(args: string[]): Promise<BufResult> {
  return new Promise((resolve) => {
    execFile(BUF, ["curl", ...args], { timeout: 30_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: stderr + (err && typeof err.code !== "number" ? `\n${err.message}` : "") });
    });
  });
}

/** `buf curl` that must succeed; its stdout as JSON. */
async function bufJson(args: string[]): Promise<Record<string, unknown>> {
  const r = await bufCurl(args);
  expect(r.stderr, `buf curl ${args.join(" ")}`).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

function lines(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter(Boolean);
}

let svc: TestService;
let grpc: ClientUnderTest;

beforeAll(async () => {
  svc = await startTestService();
  grpc = connectGrpcClient(svc.baseUrl);
});
afterAll(async () => {
  await svc.stop();
});

describe("buf curl against the running service (schema by server reflection)", () => {
  it.each([
    ["reflection v1 (default)", []],
    ["reflection v1alpha", ["--reflect-protocol", "grpc-v1alpha"]],
  ])("--list-services lists our services, Zitadel's and health, with no key, over %s", async (_name, extra) => {
    const r = await bufCurl([...H2C, ...extra, "--list-services", svc.baseUrl]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const services = lines(r.stdout);
    expect(services).toContain("sessioncontrol.v1.SessionControl");
    expect(services).toContain("zitadel.session.v2.SessionService");
    expect(services).toContain("grpc.health.v1.Health");
  });

  it("--list-methods lists SessionControl's methods", async () => {
    const r = await bufCurl([...H2C, "--list-methods", svc.baseUrl]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const methods = lines(r.stdout);
    for (const m of ["Terminate", "CreateSession", "GetSession", "ListSessions"]) {
      expect(methods).toContain(`sessioncontrol.v1.SessionControl/${m}`);
    }
    expect(methods).toContain("zitadel.session.v2.SessionService/DeleteSession");
  });

  it("creates a session, ends it by reflection, and ending it again says alreadyTerminated", async () => {
    const auth = ["-H", `Authorization: Bearer ${svc.keys.admin}`];
    const created = await bufJson([...H2C, ...auth, "-d", `{"userId":"u"}`, `${svc.baseUrl}/sessioncontrol.v1.SessionControl/CreateSession`]);
    const sessionId = created["sessionId"] as string;
    const sessionToken = created["sessionToken"] as string;
    expect(sessionId).toMatch(/^[0-9a-f]{32}$/);
    expect(sessionToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const createdDetails = created["details"] as Record<string, string>;
    expect(createdDetails["sequence"]).toMatch(/^\d+$/);

    const body = JSON.stringify({ sessionId, sessionToken, reason: "buf curl" });
    const ended = await bufJson([...H2C, ...auth, "-d", body, `${svc.baseUrl}/sessioncontrol.v1.SessionControl/Terminate`]);
    expect(ended["provider"]).toBe("local");
    // proto3 JSON leaves out a false bool.
    expect(ended["alreadyTerminated"]).toBeUndefined();
    const details = ended["details"] as Record<string, string>;
    expect(details["sequence"]).toMatch(/^\d+$/);
    expect(BigInt(details["sequence"]!)).toBeGreaterThan(BigInt(createdDetails["sequence"]!));
    expect(details["changeDate"]).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(details["creationDate"]).toBe(createdDetails["creationDate"]);

    const got = await grpc.call(SessionControl.method.getSession, { sessionId }, bearer(svc.keys.admin));
    expect(got.session?.termination?.reason).toBe("buf curl");

    const again = await bufJson([...H2C, ...auth, "-d", body, `${svc.baseUrl}/sessioncontrol.v1.SessionControl/Terminate`]);
    expect(again["alreadyTerminated"]).toBe(true);
    expect(again["details"]).toEqual(ended["details"]);
  });

  it("the README walk-through, then its audit example: ListEvents {\"userId\": \"alice\"} lists the walk-through's events", async () => {
    const auth = ["-H", `Authorization: Bearer ${svc.keys.admin}`];
    const call = (method: string, body: unknown) => bufJson([...H2C, ...auth, "-d", JSON.stringify(body), `${svc.baseUrl}/sessioncontrol.v1.SessionControl/${method}`]);
    const { sessionId, sessionToken } = (await call("CreateSession", { userId: "alice", resourceOwner: "acme" })) as { sessionId: string; sessionToken: string };
    await call("Terminate", { sessionId, sessionToken, reason: "off-boarding" });
    expect((await call("Terminate", { sessionId }))["alreadyTerminated"]).toBe(true);
    await call("TerminateUser", { userId: "alice", reason: "laptop stolen" });

    const { events } = (await call("ListEvents", { userId: "alice" })) as { events: Record<string, unknown>[] };
    // Newest first; proto3 JSON leaves out false and empty fields.
    expect(events.map((e) => [e["sessionId"], e["userId"], e["reason"], e["code"], e["alreadyTerminated"]])).toEqual([
      [sessionId, "alice", undefined, "OK", true],
      [sessionId, "alice", "off-boarding", "OK", undefined],
    ]);
  });

  it("the README's identity links example: SetUserLinks, GetUserLinks, DeleteUserLinks", async () => {
    const call = (key: string, method: string, body: unknown) => bufJson([...H2C, "-H", `Authorization: Bearer ${key}`, "-d", JSON.stringify(body), `${svc.baseUrl}/sessioncontrol.v1.SessionControl/${method}`]);
    const identities = [{ iss: "https://idp.example.com", sub: "248289761001" }];
    const set = await call(svc.keys.linker, "SetUserLinks", { userId: "alice", emails: ["Alice@Example.com"], identities, providerUserIds: { local: "alice" } });
    const links = set["links"] as Record<string, unknown>;
    expect(links).toMatchObject({ userId: "alice", emails: ["alice@example.com"], identities, providerUserIds: { local: "alice" } });
    expect(links["createTime"]).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(links["updateTime"]).toBe(links["createTime"]);
    expect(await call(svc.keys.reader, "GetUserLinks", { userId: "alice" })).toEqual(set);
    expect(await call(svc.keys.linker, "DeleteUserLinks", { userId: "alice" })).toEqual({});
  });

  it("the README's ListUserSessions and WatchOperation examples: the user's sessions per provider; a done operation streamed once, done", async () => {
    const call = (method: string, body: unknown) => bufJson([...H2C, "-H", `Authorization: Bearer ${svc.keys.admin}`, "-d", JSON.stringify(body), `${svc.baseUrl}/sessioncontrol.v1.SessionControl/${method}`]);
    const { sessionId } = (await call("CreateSession", { userId: "carol" })) as { sessionId: string };
    const listed = (await call("ListUserSessions", { userId: "carol" })) as { providers: Record<string, unknown>[] };
    expect(listed.providers).toEqual([{ provider: "local", type: "local", providerUserId: "carol", sessions: [{ id: sessionId, userId: "carol", active: true, createTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/) }] }]);

    const { operation } = (await call("TerminateUser", { userId: "carol", reason: "buf curl" })) as { operation: { id: string; done?: boolean } };
    expect(operation.done).toBe(true);
    // A server stream: buf curl prints each message; this one has one, the operation done.
    const watched = await call("WatchOperation", { id: operation.id });
    expect(watched["operation"]).toMatchObject({ id: operation.id, userId: "carol", done: true, providers: [{ provider: "local", listed: true, sessionsEnded: 1 }] });
  });

  it("a call without a key fails with unauthenticated, and buf curl exits non-zero", async () => {
    const r = await bufCurl([...H2C, "-d", `{"sessionId":"x"}`, `${svc.baseUrl}/sessioncontrol.v1.SessionControl/Terminate`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("unauthenticated");
  });

  it("grpc.health.v1.Health/Check with no key prints SERVING", async () => {
    const res = await bufJson([...H2C, "-d", "{}", `${svc.baseUrl}/grpc.health.v1.Health/Check`]);
    expect(res).toEqual({ status: "SERVING" });
  });

  it("--protocol connect over HTTP/1.1 (no prior knowledge) creates a session", async () => {
    const created = await bufJson(["--protocol", "connect", "-H", `Authorization: Bearer ${svc.keys.admin}`, "-d", `{"userId":"u-connect"}`, `${svc.baseUrl}/sessioncontrol.v1.SessionControl/CreateSession`]);
    const sessionId = created["sessionId"] as string;
    expect(sessionId).toMatch(/^[0-9a-f]{32}$/);
    const got = await grpc.call(SessionControl.method.getSession, { sessionId }, bearer(svc.keys.admin));
    expect(got.session?.userId).toBe("u-connect");
  });
});
