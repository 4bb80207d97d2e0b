import { describe, expect, it } from "vitest";
import { Secret } from "../../src/config/secret.js";
import { receiverLabel, targetResolver, type Target } from "../../src/notify/targets.js";
import { subscriberId } from "../../src/store/outbox-types.js";

describe("delivery targets", () => {
  const stream: Target = { kind: "ssf", endpoint: "https://rp.example/ssf", audience: ["a", "b"], subjectFormat: "opaque" };
  const resolve = targetResolver(
    [
      { name: "siem", kind: "ssf", endpoint: "https://siem.example:8443/events?x=1", subject_format: "complex", authorization: new Secret("Bearer t") },
      { name: "hook", kind: "webhook", endpoint: "https://hooks.example/h", audience: "ignored-by-webhooks", subject_format: "complex", secret: new Secret("whsec_x") },
    ],
    async (id) => (id === "s1" ? stream : undefined),
  );

  it("resolve configured receivers (audience by default the endpoint's origin) and streams through the stream lookup", async () => {
    expect(await resolve(subscriberId.receiver("siem"))).toEqual({ kind: "ssf", endpoint: "https://siem.example:8443/events?x=1", audience: "https://siem.example:8443", subjectFormat: "complex", authorization: new Secret("Bearer t") });
    expect((await resolve(subscriberId.receiver("hook")))?.secret?.reveal()).toBe("whsec_x");
    expect(await resolve(subscriberId.stream("s1"))).toBe(stream);
    expect(await resolve(subscriberId.stream("gone"))).toBeUndefined();
    expect(await resolve(subscriberId.receiver("unconfigured"))).toBeUndefined();
  });

  it("label metrics by receiver name, and every stream as one", () => {
    expect(receiverLabel(subscriberId.receiver("siem"))).toBe("siem");
    expect(receiverLabel(subscriberId.stream("f67e39a0"))).toBe("stream:*");
  });
});
