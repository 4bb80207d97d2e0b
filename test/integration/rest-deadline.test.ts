import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeZitadel } from "../fakes/zitadel.js";
import { startTestService, type TestService } from "../helpers/service.js";

const ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo";
/** The server's cap on deadlines: REST calls without Grpc-Timeout get it as theirs. */
const MAX_TIMEOUT_MS = 3000;

let fake: FakeZitadel;
let svc: TestService;

beforeAll(async () => {
  fake = await FakeZitadel.start();
  process.env["REST_DEADLINE_PAT"] = `pat-${randomUUID()}`;
  svc = await startTestService({ max_timeout_ms: MAX_TIMEOUT_MS }, {
    providers: [{ name: "idp", type: "zitadel", base_url: fake.url, token: "env:REST_DEADLINE_PAT", max_attempts: 1, timeout_ms: 60_000 }],
  });
  // The upstream holds every answer far beyond any deadline here.
  fake.deleteSession = { delayMs: 60_000, response: {} };
});
afterAll(async () => {
  await svc.stop();
  await fake.stop();
});

async function restDelete(headers: Record<string, string>) {
  const started = Date.now();
  const res = await fetch(`${svc.baseUrl}/v2/sessions/held-${randomUUID()}`, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${svc.keys.admin}`, "Content-Type": "application/json", ...headers },
    body: "{}",
  });
  const body = (await res.json()) as { code: number; details: Record<string, unknown>[] };
  return { status: res.status, body, ms: Date.now() - started };
}

describe("REST DELETE /v2/sessions/{id}: the call's deadline", () => {
  it("is its Grpc-Timeout header, as grpc-gateway reads it: 504 DEADLINE_EXCEEDED when the upstream has not answered by then", async () => {
    const { status, body, ms } = await restDelete({ "Grpc-Timeout": "2S" });
    expect(status).toBe(504);
    expect(body.code).toBe(4);
    expect(body.details.find((d) => d["@type"] === ERROR_INFO)?.["reason"]).toBe("CALLER_DEADLINE_EXCEEDED");
    expect(ms).toBeGreaterThanOrEqual(1900);
    expect(ms).toBeLessThan(MAX_TIMEOUT_MS + 20_000);
  });

  it("is server.max_timeout_ms without a header, and a longer Grpc-Timeout is capped to it", async () => {
    for (const headers of [{}, { "Grpc-Timeout": "60S" }] as Record<string, string>[]) {
      const { status, body, ms } = await restDelete(headers);
      expect(status).toBe(504);
      expect(body.details.find((d) => d["@type"] === ERROR_INFO)?.["reason"]).toBe("CALLER_DEADLINE_EXCEEDED");
      expect(ms).toBeGreaterThanOrEqual(MAX_TIMEOUT_MS - 100);
      // Well before the 60 s the header asked for.
      expect(ms).toBeLessThan(30_000);
    }
  });
});
