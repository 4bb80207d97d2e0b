import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl, type SetUserLinksRequestSchema } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { FakeLuckyMonaco } from "../fakes/luckymonaco.js";
import type { RecordedRequest } from "../fakes/http-fake.js";
import { allClients, codeOf } from "../helpers/clients.js";
import { failure } from "../helpers/errors.js";
import { operationDone } from "../helpers/operations.js";
import { dropSchema, freshSchema, postgresSkipReason, storeUrl, withClient } from "../helpers/postgres.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";

const postgresSkip = await postgresSkipReason();

const STORES = [
  { name: "sqlite", skip: undefined, store: async () => ({}), cleanup: async () => undefined },
  {
    name: "postgres",
    skip: postgresSkip,
    store: async (schema: string) => {
      await withClient((c) => c.query(`CREATE SCHEMA ${schema}`));
      return { store: storeUrl(schema) };
    },
    cleanup: dropSchema,
  },
];

type SetInput = MessageInitShape<typeof SetUserLinksRequestSchema>;

const ALICE: SetInput = {
  userId: "alice",
  emails: ["Alice@Example.com", "alice.smith@work.example"],
  identities: [{ iss: "https://idp.example", sub: "248289761001" }],
  providerUserIds: { casino: "lm-alice", poker: "pk-alice" },
};

/** The player a CloseSession request named. */
const playerOf = (r: RecordedRequest) => r.form?.["userId"] ?? (r.body as { userId?: string } | undefined)?.userId;

describe.each(STORES)("identity links ($name)", ({ skip, store, cleanup }) => {
  const schema = freshSchema();
  let svc: TestService;
  let client: Client<typeof SessionControl>;
  let casino: FakeLuckyMonaco;
  let poker: FakeLuckyMonaco;
  const as = (role: Role) => ({ headers: bearer(svc.keys[role]) });

  beforeAll(async () => {
    if (skip !== undefined) return;
    [casino, poker] = await Promise.all([FakeLuckyMonaco.start(), FakeLuckyMonaco.start()]);
    process.env["UL_LM_TOKEN"] = "lm-token-user-links";
    const lm = { type: "luckymonaco", secure_login: "partner-7", token: "env:UL_LM_TOKEN", max_attempts: 1, timeout_ms: 5000 };
    svc = await startTestService({}, {
      ...(await store(schema)),
      providers: [
        { name: "local", type: "local" },
        { name: "casino", base_url: casino.url, ...lm },
        { name: "poker", base_url: poker.url, ...lm },
      ],
    });
    client = grpcClient(svc);
  });
  afterAll(async () => {
    await svc?.stop();
    await Promise.all([casino?.close(), poker?.close()]);
    if (skip === undefined) await cleanup(schema);
  });
  beforeEach(async () => {
    if (skip !== undefined) return;
    casino.reset();
    poker.reset();
    for (const userId of ["alice", "bob", "carol"]) await client.deleteUserLinks({ userId }, as("linker")).catch(() => undefined);
  });

  it.skipIf(skip !== undefined)("sets, gets, replaces and deletes a user's links over every client", async () => {
    for (const c of allClients(svc.baseUrl)) {
      try {
        const set = await c.call(SessionControl.method.setUserLinks, ALICE, bearer(svc.keys.linker));
        expect(set.links, c.name).toMatchObject({
          userId: "alice",
          // Kept lower-cased.
          emails: ["alice@example.com", "alice.smith@work.example"],
          identities: [{ iss: "https://idp.example", sub: "248289761001" }],
          providerUserIds: { casino: "lm-alice", poker: "pk-alice" },
        });
        const created = timestampDate(set.links!.createTime!);
        expect(Math.abs(created.getTime() - Date.now())).toBeLessThan(60_000);
        expect(set.links!.updateTime).toEqual(set.links!.createTime);
        const got = await c.call(SessionControl.method.getUserLinks, { userId: "alice" }, bearer(svc.keys.reader));
        expect(got.links, c.name).toEqual(set.links);

        // PUT: what the new Set leaves out is gone.
        const replaced = await c.call(SessionControl.method.setUserLinks, { userId: "alice", emails: ["a@example.com"] }, bearer(svc.keys.linker));
        expect(replaced.links).toMatchObject({ userId: "alice", emails: ["a@example.com"], identities: [], providerUserIds: {} });
        expect(replaced.links!.createTime).toEqual(set.links!.createTime);

        await c.call(SessionControl.method.deleteUserLinks, { userId: "alice" }, bearer(svc.keys.linker));
        expect(await codeOf(c.call(SessionControl.method.getUserLinks, { userId: "alice" }, bearer(svc.keys.reader))), c.name).toBe(Code.NotFound);
      } finally {
        c.close();
      }
    }
  });

  it.skipIf(skip !== undefined)("answers NOT_FOUND USER_LINKS_NOT_FOUND for a user without links, on Get and Delete", async () => {
    for (const call of [() => client.getUserLinks({ userId: "nobody" }, as("reader")), () => client.deleteUserLinks({ userId: "nobody" }, as("linker"))]) {
      const err = await failure(call());
      expect(err.code).toBe(Code.NotFound);
      expect(err.findDetails(ErrorInfoSchema)[0]?.reason).toBe("USER_LINKS_NOT_FOUND");
    }
  });

  it.skipIf(skip !== undefined)("needs users.manage to set and delete, session.read to get", async () => {
    await client.setUserLinks(ALICE, as("linker"));
    for (const role of ["reader", "deleter", "nobody", "alice", "ssf"] as const) {
      for (const call of [() => client.setUserLinks(ALICE, as(role)), () => client.deleteUserLinks({ userId: "alice" }, as(role))]) {
        const err = await failure(call());
        expect(err.code, role).toBe(Code.PermissionDenied);
        expect(err.message).toContain("users.manage");
      }
    }
    // A caller's own user is no exception: links are an administrator's business.
    for (const role of ["linker", "deleter", "alice"] as const) expect(await codeOf(client.getUserLinks({ userId: "alice" }, as(role))), role).toBe(Code.PermissionDenied);
    // Refused before validation: a caller without the permission learns nothing of its input.
    expect(await codeOf(client.setUserLinks({ userId: "" }, as("nobody")))).toBe(Code.PermissionDenied);
    expect(await codeOf(client.getUserLinks({ userId: "alice" }))).toBe(Code.Unauthenticated);
    expect((await client.getUserLinks({ userId: "alice" }, as("admin"))).links?.emails).toEqual(["alice@example.com", "alice.smith@work.example"]);
  });

  it.skipIf(skip !== undefined)("refuses bad input with INVALID_ARGUMENT naming each field", async () => {
    const cases: [SetInput, string[]][] = [
      [{ userId: "" }, ["user_id"]],
      [{ userId: "u".repeat(201) }, ["user_id"]],
      [{ userId: "alice", emails: ["not-an-email", "a@b@c", "two words@example.com", "alice@", "@example.com", "alice@example..com", `${"l".repeat(65)}@example.com`, `a@${"d".repeat(260)}.com`] }, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `emails[${i}]`)],
      [{ userId: "alice", emails: Array.from({ length: 51 }, (_, i) => `u${i}@example.com`) }, ["emails"]],
      [
        {
          userId: "alice",
          identities: [
            { iss: "", sub: "x" },
            { iss: "idp.example", sub: "x" },
            { iss: "ftp://idp.example", sub: "x" },
            { iss: "https://idp.example/ space", sub: "x" },
            { iss: `https://idp.example/${"p".repeat(1000)}`, sub: "x" },
            { iss: "https://idp.example", sub: "" },
            { iss: "https://idp.example", sub: "s".repeat(256) },
          ],
        },
        ["identities[0].iss", "identities[1].iss", "identities[2].iss", "identities[3].iss", "identities[4].iss", "identities[5].sub", "identities[6].sub"],
      ],
      [{ userId: "alice", identities: Array.from({ length: 51 }, (_, i) => ({ iss: "https://idp.example", sub: `s${i}` })) }, ["identities"]],
      [{ userId: "alice", providerUserIds: { nowhere: "x", casino: "", poker: "p".repeat(201) } }, ['provider_user_ids["nowhere"]', 'provider_user_ids["casino"]', 'provider_user_ids["poker"]']],
    ];
    for (const [input, fields] of cases) {
      const err = await failure(client.setUserLinks(input, as("linker")));
      expect(err.code, JSON.stringify(fields)).toBe(Code.InvalidArgument);
      expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual(fields);
    }
    for (const call of [() => client.getUserLinks({ userId: "" }, as("reader")), () => client.deleteUserLinks({ userId: "x".repeat(201) }, as("linker"))]) {
      const err = await failure(call());
      expect(err.findDetails(BadRequestSchema)[0]?.fieldViolations.map((v) => v.field)).toEqual(["user_id"]);
    }
    // Nothing was stored by any of them.
    expect(await codeOf(client.getUserLinks({ userId: "alice" }, as("reader")))).toBe(Code.NotFound);
  });

  it.skipIf(skip !== undefined)("keeps duplicates once: emails compared lower-cased, identities exactly", async () => {
    const { links } = await client.setUserLinks(
      { userId: "alice", emails: ["A@example.com", "a@EXAMPLE.com", "b@example.com"], identities: [{ iss: "https://i.example", sub: "1" }, { iss: "https://i.example", sub: "1" }, { iss: "https://i.example", sub: "1 " }] },
      as("linker"),
    );
    expect(links?.emails).toEqual(["a@example.com", "b@example.com"]);
    expect(links?.identities.map((i) => i.sub)).toEqual(["1", "1 "]);
  });

  it.skipIf(skip !== undefined)("refuses an email or identity linked to another user with ALREADY_EXISTS USER_LINK_TAKEN, naming the field and not the user", async () => {
    await client.setUserLinks(ALICE, as("linker"));
    const takenEmail = await failure(client.setUserLinks({ userId: "bob", emails: ["bob@example.com", "ALICE@example.COM"] }, as("linker")));
    expect(takenEmail.code).toBe(Code.AlreadyExists);
    const info = takenEmail.findDetails(ErrorInfoSchema)[0]!;
    expect([info.reason, info.metadata]).toEqual(["USER_LINK_TAKEN", { field: "emails[1]" }]);
    expect(takenEmail.message).toContain("emails[1]");
    expect(JSON.stringify([takenEmail.message, info])).not.toContain("alice");

    const takenIdentity = await failure(client.setUserLinks({ userId: "bob", identities: [{ iss: "https://idp.example", sub: "bob" }, { iss: "https://idp.example", sub: "248289761001" }] }, as("linker")));
    expect(takenIdentity.code).toBe(Code.AlreadyExists);
    expect(takenIdentity.findDetails(ErrorInfoSchema)[0]?.metadata).toEqual({ field: "identities[1]" });

    // Refused whole: bob has no links; once alice lets the email go, bob may take it.
    expect(await codeOf(client.getUserLinks({ userId: "bob" }, as("reader")))).toBe(Code.NotFound);
    await client.setUserLinks({ userId: "alice" }, as("linker"));
    expect((await client.setUserLinks({ userId: "bob", emails: ["alice@example.com"] }, as("linker"))).links?.emails).toEqual(["alice@example.com"]);
    // A user's own links are not "another user's": setting them again is fine.
    expect((await client.setUserLinks({ userId: "bob", emails: ["Alice@example.com"] }, as("linker"))).links?.emails).toEqual(["alice@example.com"]);
  });

  it.skipIf(skip !== undefined)("TerminateUser reaches each upstream with the request's provider id, else the linked one, else user_id", async () => {
    await client.setUserLinks(ALICE, as("linker"));
    const linked = await client.terminateUser({ userId: "alice", providers: ["casino", "poker"] }, as("admin"));
    const done = await operationDone(client, linked.operation!.id, as("admin").headers);
    expect(Object.fromEntries(done.providers.map((p) => [p.provider, p.providerUserId]))).toEqual({ casino: "lm-alice", poker: "pk-alice" });
    expect(casino.requests.map(playerOf)).toEqual(["lm-alice"]);
    expect(poker.requests.map(playerOf)).toEqual(["pk-alice"]);

    const given = await client.terminateUser({ userId: "alice", providers: ["casino", "poker"], providerUserIds: { casino: "from-request" } }, as("admin"));
    await operationDone(client, given.operation!.id, as("admin").headers);
    expect(casino.requests.map(playerOf)).toEqual(["lm-alice", "from-request"]);
    expect(poker.requests.map(playerOf)).toEqual(["pk-alice", "pk-alice"]);

    // carol has links, but none for these providers; dave has none at all.
    await client.setUserLinks({ userId: "carol", emails: ["carol@example.com"] }, as("linker"));
    for (const userId of ["carol", "dave"]) await operationDone(client, (await client.terminateUser({ userId, providers: ["casino"] }, as("admin"))).operation!.id, as("admin").headers);
    expect(casino.requests.slice(2).map(playerOf)).toEqual(["carol", "dave"]);
  });
});
