import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, grpcClient, startTestService, type TestService } from "../helpers/service.js";
import { until } from "../helpers/wait.js";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.stop());

describe("call logs", () => {
  it("write one line per call with procedure, code, duration and principal, and no secret", async () => {
    const client = grpcClient(svc);
    const created = await client.createSession({ userId: "u-log" }, { headers: bearer(svc.keys.admin) });
    await client.terminate({ sessionId: created.sessionId, sessionToken: created.sessionToken }, { headers: bearer(svc.keys.nobody) });
    await expect(client.terminate({ sessionId: created.sessionId, sessionToken: "wrong-token" }, { headers: bearer(svc.keys.nobody) })).rejects.toThrow();
    await expect(client.getSession({ sessionId: created.sessionId }, { headers: bearer("sck_not-a-key") })).rejects.toThrow();
    // A call's line is written when its HTTP exchange ends, which may be just after the client has the answer.
    const calls = await until("the four call lines", () => {
      const lines = svc.logs.filter((l) => l["msg"] === "call");
      return lines.length >= 4 && lines;
    });
    expect(calls.map((c) => [c["procedure"], c["code"], c["principal"]])).toEqual([
      ["/sessioncontrol.v1.SessionControl/CreateSession", "OK", "admin"],
      ["/sessioncontrol.v1.SessionControl/Terminate", "OK", "nobody"],
      ["/sessioncontrol.v1.SessionControl/Terminate", "PERMISSION_DENIED", "nobody"],
      ["/sessioncontrol.v1.SessionControl/GetSession", "UNAUTHENTICATED", "-"],
    ]);
    for (const c of calls) expect(c["duration_ms"]).toBeTypeOf("number");

    const text = svc.logText();
    for (const secret of [...Object.values(svc.keys), created.sessionToken, "wrong-token", "sck_not-a-key"]) expect(text).not.toContain(secret);
  });
});
