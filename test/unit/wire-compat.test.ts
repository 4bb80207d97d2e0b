import { create, fromBinary, toBinary, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import {
  DeleteSessionRequestSchema,
  DeleteSessionResponseSchema,
} from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { describe, expect, it } from "vitest";
import { TerminateRequestSchema, TerminateResponseSchema } from "../../gen/sessioncontrol/v1/session_control_pb.js";

// The contract promises wire compatibility with zitadel.session.v2.SessionService.DeleteSession:
// fields 1 and 2 of the request and field 1 of the response (zitadel.object.v2.Details).

const SEQUENCE = 2n ** 63n + 12_345n; // uses the full uint64 range
const CHANGE_DATE: Timestamp = { ...timestampFromDate(new Date("2026-03-04T05:06:07.089Z")), nanos: 89_123_456 };
const CREATION_DATE: Timestamp = { ...timestampFromDate(new Date("2025-12-31T23:59:59Z")), nanos: 1 };
const TOKEN = "k3J9x_Q2-token-with-üñíçødé";

function plainTimestamp(t: Timestamp | undefined): { seconds: bigint; nanos: number } | undefined {
  return t && { seconds: t.seconds, nanos: t.nanos };
}

describe("TerminateRequest <-> zitadel.session.v2.DeleteSessionRequest", () => {
  it("Zitadel's request decodes as ours", () => {
    const bytes = toBinary(DeleteSessionRequestSchema, create(DeleteSessionRequestSchema, { sessionId: "sess-123", sessionToken: TOKEN }));
    const ours = fromBinary(TerminateRequestSchema, bytes);
    expect(ours.sessionId).toBe("sess-123");
    expect(ours.sessionToken).toBe(TOKEN);
    expect(ours.provider).toBe("");
    expect(ours.requestId).toBe("");
    expect(ours.userId).toBe("");
    expect(ours.reason).toBe("");
    expect(ours.$unknown ?? []).toEqual([]);
  });

  it("Zitadel's request without a token decodes as ours without one (presence kept)", () => {
    const bytes = toBinary(DeleteSessionRequestSchema, create(DeleteSessionRequestSchema, { sessionId: "sess-123" }));
    const ours = fromBinary(TerminateRequestSchema, bytes);
    expect(ours.sessionId).toBe("sess-123");
    expect(ours.sessionToken).toBeUndefined();
  });

  it("Zitadel's request with an empty token decodes as ours with an empty (present) token", () => {
    const bytes = toBinary(DeleteSessionRequestSchema, create(DeleteSessionRequestSchema, { sessionId: "sess-123", sessionToken: "" }));
    expect(bytes.length).toBeGreaterThan(toBinary(DeleteSessionRequestSchema, create(DeleteSessionRequestSchema, { sessionId: "sess-123" })).length);
    expect(fromBinary(TerminateRequestSchema, bytes).sessionToken).toBe("");
  });

  it("our request decodes as Zitadel's; our extra fields travel as unknown fields and survive", () => {
    const ours = create(TerminateRequestSchema, {
      sessionId: "sess-456",
      sessionToken: TOKEN,
      provider: "local",
      requestId: "0b4e1a8c-52a1-4d7e-9f3b-2c6a9e8d7f10",
      userId: "alice",
      reason: "logout",
    });
    const theirs = fromBinary(DeleteSessionRequestSchema, toBinary(TerminateRequestSchema, ours));
    expect(theirs.sessionId).toBe("sess-456");
    expect(theirs.sessionToken).toBe(TOKEN);
    expect((theirs.$unknown ?? []).map((u) => u.no)).toEqual([3, 4, 5, 6]);
    // Through Zitadel's schema and back, nothing is lost.
    const back = fromBinary(TerminateRequestSchema, toBinary(DeleteSessionRequestSchema, theirs));
    expect(back).toEqual(ours);
  });

  it("the bytes are identical when only the shared fields are set", () => {
    const init = { sessionId: "sess-789", sessionToken: TOKEN };
    expect(toBinary(TerminateRequestSchema, create(TerminateRequestSchema, init))).toEqual(
      toBinary(DeleteSessionRequestSchema, create(DeleteSessionRequestSchema, init)),
    );
  });
});

describe("TerminateResponse <-> zitadel.session.v2.DeleteSessionResponse", () => {
  const details = { sequence: SEQUENCE, changeDate: CHANGE_DATE, resourceOwner: "org-42", creationDate: CREATION_DATE };

  it("our response decodes as Zitadel's with equal details", () => {
    const ours = create(TerminateResponseSchema, { details, provider: "local", alreadyTerminated: true });
    const theirs = fromBinary(DeleteSessionResponseSchema, toBinary(TerminateResponseSchema, ours));
    expect(theirs.details).toBeDefined();
    expect(theirs.details!.sequence).toBe(SEQUENCE);
    expect(plainTimestamp(theirs.details!.changeDate)).toEqual(plainTimestamp(CHANGE_DATE));
    expect(theirs.details!.resourceOwner).toBe("org-42");
    expect(plainTimestamp(theirs.details!.creationDate)).toEqual(plainTimestamp(CREATION_DATE));
    // provider and already_terminated are fields Zitadel's clients do not know.
    expect((theirs.$unknown ?? []).map((u) => u.no)).toEqual([2, 3]);
  });

  it("Zitadel's response decodes as ours with equal details", () => {
    const theirs = create(DeleteSessionResponseSchema, { details });
    const ours = fromBinary(TerminateResponseSchema, toBinary(DeleteSessionResponseSchema, theirs));
    expect(ours.details).toBeDefined();
    expect(ours.details!.sequence).toBe(SEQUENCE);
    expect(plainTimestamp(ours.details!.changeDate)).toEqual(plainTimestamp(CHANGE_DATE));
    expect(ours.details!.resourceOwner).toBe("org-42");
    expect(plainTimestamp(ours.details!.creationDate)).toEqual(plainTimestamp(CREATION_DATE));
    expect(ours.provider).toBe("");
    expect(ours.alreadyTerminated).toBe(false);
  });

  it("the bytes are identical when only details is set", () => {
    expect(toBinary(TerminateResponseSchema, create(TerminateResponseSchema, { details }))).toEqual(
      toBinary(DeleteSessionResponseSchema, create(DeleteSessionResponseSchema, { details })),
    );
  });
});

/** Every field of `theirs` has a field in `ours` with the same number, name, kind, type and presence. */
function expectFieldsMatch(theirs: DescMessage, ours: DescMessage, path: string[] = []): number {
  let compared = 0;
  for (const t of theirs.fields) {
    const where = [...path, `${theirs.name}.${t.name}`].join(" > ");
    const o: DescField | undefined = ours.fields.find((f) => f.number === t.number);
    expect(o, `${where}: no field number ${t.number} in ${ours.typeName}`).toBeDefined();
    expect(o!.name, where).toBe(t.name);
    expect(o!.fieldKind, where).toBe(t.fieldKind);
    expect(o!.scalar, where).toBe(t.scalar);
    expect(o!.presence, where).toBe(t.presence);
    expect(o!.proto.type, where).toBe(t.proto.type);
    expect(o!.proto.label, where).toBe(t.proto.label);
    expect(o!.proto.proto3Optional, where).toBe(t.proto.proto3Optional);
    compared++;
    if (t.fieldKind === "message" && o!.fieldKind === "message") {
      // Well-known types must be the very same; our mirrors of Zitadel's messages must match field by field.
      if (t.message.typeName.startsWith("google.protobuf.")) expect(o!.message.typeName, where).toBe(t.message.typeName);
      else compared += expectFieldsMatch(t.message, o!.message, [...path, `${theirs.name}.${t.name}`]);
    }
  }
  return compared;
}

describe("descriptors", () => {
  it("DeleteSessionRequest's fields are TerminateRequest's fields 1 and 2", () => {
    expect(DeleteSessionRequestSchema.fields.map((f) => f.number)).toEqual([1, 2]);
    expect(expectFieldsMatch(DeleteSessionRequestSchema, TerminateRequestSchema)).toBe(2);
    const token = TerminateRequestSchema.fields.find((f) => f.number === 2)!;
    expect(token.name).toBe("session_token");
    expect(token.proto.proto3Optional).toBe(true);
  });

  it("DeleteSessionResponse's field is TerminateResponse's field 1, and Details matches zitadel.object.v2.Details", () => {
    expect(DeleteSessionResponseSchema.fields.map((f) => f.number)).toEqual([1]);
    // details itself, then its 4 fields.
    expect(expectFieldsMatch(DeleteSessionResponseSchema, TerminateResponseSchema)).toBe(5);
    const details = DeleteSessionResponseSchema.fields[0]!;
    expect(details.fieldKind === "message" && details.message.typeName).toBe("zitadel.object.v2.Details");
  });

  it("our fields beyond Zitadel's do not reuse their numbers", () => {
    const theirs = new Set(DeleteSessionRequestSchema.fields.map((f) => f.number));
    const extra = TerminateRequestSchema.fields.filter((f) => !theirs.has(f.number));
    expect(extra.map((f) => f.name)).toEqual(["provider", "request_id", "user_id", "reason", "options"]);
  });
});
