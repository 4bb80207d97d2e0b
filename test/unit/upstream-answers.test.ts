import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { newSessions } from "../../src/providers/one-or-all.js";
import { withoutSecrets } from "../../src/providers/upstream-answer.js";
import { ProviderFailure } from "../../src/status/provider-failure.js";
import type { MappingTable } from "../../src/status/table.js";

const SECRET = "s3cr~et/with+odd=chars";
const TABLE: MappingTable = [{ when: { httpStatus: 401 }, answer: "HTTP 401", code: Code.FailedPrecondition, reason: "PROVIDER_CREDENTIALS_REJECTED" }];

describe("an upstream's words, as they reach callers", () => {
  it("lose our secrets as sent, as a form or a URL carries them, and a start of one where the message was cut", () => {
    const cases = [
      `bad token ${SECRET} given`,
      `client_secret=${new URLSearchParams({ s: SECRET }).toString().slice(2)}&grant_type=client_credentials`,
      `path /x/${encodeURIComponent(SECRET)}/y`,
      `got SSWS ${SECRET.slice(0, 10)}`,
    ];
    for (const message of cases) {
      const cleaned = withoutSecrets({ httpStatus: 401, message }, [SECRET, undefined]).message;
      expect(cleaned, message).toContain("[secret]");
      expect(cleaned, message).not.toContain(SECRET.slice(0, 5));
    }
    // Ordinary text is left alone.
    expect(withoutSecrets({ httpStatus: 401, message: "invalid_client" }, [SECRET]).message).toBe("invalid_client");
  });

  it("are bounded in the failure's message and ErrorInfo metadata", () => {
    const f = new ProviderFailure("idp", { httpStatus: 401, message: "x".repeat(2_000_000) }, TABLE);
    expect(f.message.length).toBeLessThan(600);
    expect(f.metadata["upstream_message"]!.length).toBeLessThan(600);
    expect(f.reason).toBe("PROVIDER_CREDENTIALS_REJECTED");
  });
});

describe("listing page by page", () => {
  it("never counts a session twice, so a page seen again (a cursor leading back) adds nothing and ends the listing", () => {
    const s = (id: string) => ({ sessionId: id, userId: "u", active: true });
    const listed = [s("a"), s("b")];
    expect(newSessions(listed, [s("b"), s("c"), s("c")])).toEqual([s("c")]);
    expect(newSessions(listed, [s("a"), s("b")])).toEqual([]);
  });
});
