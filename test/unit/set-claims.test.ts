import { describe, expect, it } from "vitest";
import { SESSION_REVOKED, setClaims } from "../../src/notify/set-claims.js";
import type { Target } from "../../src/notify/targets.js";
import { webhookBody } from "../../src/notify/webhook-message.js";
import type { Delivery, SessionRevokedNotice } from "../../src/store/outbox-types.js";

const notice: SessionRevokedNotice = { kind: "session-revoked", userId: "", sessionId: "s-1", provider: "zitadel", endedAt: Date.UTC(2026, 11, 3), initiatingEntity: "admin", txn: "r-1" };
const delivery: Delivery = { id: 1n, subscriber: "receiver:a", jti: "j-1", notice, state: "pending", attempts: 1, createdAt: new Date(), updatedAt: new Date(), nextAttemptAt: new Date(), expiresAt: new Date() };
const target = (subjectFormat: Target["subjectFormat"]): Target => ({ kind: "ssf", endpoint: "http://r.example/", audience: "http://r.example", subjectFormat });

describe("an end whose user nobody named", () => {
  it("is a complex subject of its session, in either subject format, with no empty user", () => {
    for (const format of ["complex", "opaque"] as const) {
      const claims = setClaims(delivery, target(format), "http://issuer.example");
      expect(claims.sub_id).toEqual({ format: "complex", session: { format: "opaque", id: "s-1" } });
      expect(claims.events).toEqual({ [SESSION_REVOKED]: { event_timestamp: Date.UTC(2026, 11, 3) / 1000, initiating_entity: "admin" } });
    }
  });

  it("has no user_id in its webhook", () => {
    const body = JSON.parse(webhookBody(notice)) as { data: Record<string, unknown> };
    expect(body.data).not.toHaveProperty("user_id");
    expect(body.data.session_id).toBe("s-1");
  });
});
