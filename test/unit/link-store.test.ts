import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LinkTakenError, type NewUserLinks } from "../../src/store/link-types.js";
import type { Stores } from "../../src/store/store.js";
import { STORES, type StoreEnv } from "../helpers/store-envs.js";

function links(userId: string, extra: Partial<NewUserLinks> = {}): NewUserLinks {
  return {
    userId,
    emails: [`${userId}@example.com`, `${userId}@work.example`],
    identities: [
      { iss: "https://idp.example", sub: `sub-${userId}` },
      { iss: "https://accounts.example", sub: `acct-${userId}` },
    ],
    providerUserIds: { chat: `rc-${userId}` },
    ...extra,
  };
}

/** The error a call rejects with. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => expect.unreachable("expected a rejection"),
    (err: unknown) => err,
  );
}

for (const { name, skip, setup } of STORES)
  describe.skipIf(skip !== undefined)(`identity links in the ${name} store`, () => {
    let env: StoreEnv;
    const opened: Stores[] = [];
    const open = async () => {
      const s = await env.open();
      opened.push(s);
      return s;
    };
    let store: Stores;
    beforeEach(async () => {
      env = await setup();
      store = await open();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await env.cleanup();
    });

    it("sets, reads, replaces and deletes a user's links, in the order given", async () => {
      const set = await store.links.setLinks(links("u1"));
      expect(set).toMatchObject(links("u1"));
      expect(set.createdAt.getTime()).toBe(set.updatedAt.getTime());
      expect(await store.links.getLinks("u1")).toEqual(set);
      expect(await store.links.getLinks("u2")).toBeUndefined();

      const replacement = links("u1", { emails: ["z@example.com", "a@example.com"], identities: [{ iss: "https://z.example", sub: "1" }], providerUserIds: {} });
      const replaced = await store.links.setLinks(replacement);
      expect(replaced).toMatchObject(replacement);
      expect(replaced.createdAt).toEqual(set.createdAt);
      expect(replaced.updatedAt.getTime()).toBeGreaterThanOrEqual(set.updatedAt.getTime());
      // What the replacement left out is no longer the user's.
      expect(await store.links.userByEmail("u1@example.com")).toBeUndefined();
      expect(await store.links.userByIdentity("https://idp.example", "sub-u1")).toBeUndefined();
      expect(await store.links.userByEmail("a@example.com")).toBe("u1");

      expect(await store.links.deleteLinks("u1")).toBe(true);
      expect(await store.links.deleteLinks("u1")).toBe(false);
      expect(await store.links.getLinks("u1")).toBeUndefined();
      expect(await store.links.userByEmail("a@example.com")).toBeUndefined();
      expect(await store.links.userByIdentity("https://z.example", "1")).toBeUndefined();
    });

    it("finds the user of an email and of an (iss, sub) pair, exactly", async () => {
      await store.links.setLinks(links("u1"));
      await store.links.setLinks(links("u2"));
      expect(await store.links.userByEmail("u2@work.example")).toBe("u2");
      expect(await store.links.userByIdentity("https://accounts.example", "acct-u1")).toBe("u1");
      expect(await store.links.userByIdentity("https://accounts.example", "acct-u3")).toBeUndefined();
      expect(await store.links.userByIdentity("https://idp.example/", "sub-u1")).toBeUndefined();
      expect(await store.links.userByIdentity("https://idp.example", "sub-u2")).toBe("u2");
    });

    it("refuses an email or identity of another user, and then stores nothing of the Set", async () => {
      const before = await store.links.setLinks(links("u1"));
      await store.links.setLinks(links("u2"));
      const emailTaken = await rejection(store.links.setLinks(links("u1", { emails: ["new@example.com", "u2@work.example"] })));
      expect(emailTaken).toBeInstanceOf(LinkTakenError);
      expect((emailTaken as LinkTakenError).taken).toEqual({ email: "u2@work.example" });
      const identityTaken = await rejection(store.links.setLinks(links("u3", { emails: [], identities: [{ iss: "https://new.example", sub: "x" }, { iss: "https://idp.example", sub: "sub-u2" }] })));
      expect((identityTaken as LinkTakenError).taken).toEqual({ identity: { iss: "https://idp.example", sub: "sub-u2" } });
      // Rolled back whole: u1 as before, u3 never created, the new email and identity free.
      expect(await store.links.getLinks("u1")).toEqual(before);
      expect(await store.links.getLinks("u3")).toBeUndefined();
      expect(await store.links.userByEmail("new@example.com")).toBeUndefined();
      expect(await store.links.userByIdentity("https://new.example", "x")).toBeUndefined();
    });

    it("keeps an email and an identity to one user in the database itself", async () => {
      await store.links.setLinks(links("u1"));
      await store.links.setLinks(links("u2", { emails: [], identities: [] }));
      await expect(env.sql("INSERT INTO user_emails (email, user_id, position) VALUES ('u1@example.com', 'u2', 9)")).rejects.toThrow(/unique|duplicate/i);
      await expect(env.sql("INSERT INTO user_identities (iss, sub, user_id, position) VALUES ('https://idp.example', 'sub-u1', 'u2', 9)")).rejects.toThrow(/unique|duplicate/i);
    });

    it("gives a contested email to exactly one user when two replicas set links at once", async () => {
      const other = await open();
      const replicas = [store, other];
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => replicas[i % 2]!.links.setLinks(links(`racer${i}`, { emails: [`own${i}@example.com`, "shared@example.com"], identities: [{ iss: "https://idp.example", sub: "shared" }] }))),
      );
      const won = outcomes.flatMap((o, i) => (o.status === "fulfilled" ? [`racer${i}`] : []));
      expect(won).toHaveLength(1);
      for (const o of outcomes) if (o.status === "rejected") expect(o.reason).toBeInstanceOf(LinkTakenError);
      expect(await store.links.userByEmail("shared@example.com")).toBe(won[0]);
      expect(await other.links.userByIdentity("https://idp.example", "shared")).toBe(won[0]);
      expect(await env.sql("SELECT user_id FROM user_links")).toEqual([{ user_id: won[0] }]);
      expect(await env.sql("SELECT count(*) AS n FROM user_emails")).toEqual([{ n: name === "postgres" ? "2" : 2 }]);
    });

    it("leaves one whole Set when two replicas set the same user at once", async () => {
      const other = await open();
      const sets = Array.from({ length: 10 }, (_, i) => links("u1", { emails: [`v${i}@example.com`], identities: [{ iss: "https://idp.example", sub: `v${i}` }], providerUserIds: { chat: `v${i}` } }));
      await Promise.all(sets.map((s, i) => (i % 2 ? other : store).links.setLinks(s)));
      const final = await store.links.getLinks("u1");
      const v = final!.providerUserIds["chat"]!;
      expect(final).toMatchObject({ emails: [`${v}@example.com`], identities: [{ iss: "https://idp.example", sub: v }] });
      expect(await env.sql("SELECT count(*) AS n FROM user_emails")).toEqual([{ n: name === "postgres" ? "1" : 1 }]);
    });
  });
