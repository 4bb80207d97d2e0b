import { connect } from "node:net";
import type { Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { FakeLuckyMonaco } from "../fakes/luckymonaco.js";
import { operationDone } from "../helpers/operations.js";
import { dropSchema, freshSchema, postgresSkipReason, storeUrl, withClient } from "../helpers/postgres.js";
import { bearer, grpcClient, startTestService, type Role, type TestService } from "../helpers/service.js";
import { SESSION_REVOKED, SetReceiver } from "../helpers/set-receiver.js";
import { TestIdp } from "../helpers/test-idp.js";
import { until } from "../helpers/wait.js";

/** This service's public_url: the GTR audience is under it, and SETs are for it. */
const PUBLIC_URL = "https://sc.example";
const GTR_AUDIENCE = `${PUBLIC_URL}/global-token-revocation`;
const CREDENTIAL_CHANGE = "https://schemas.openid.net/secevent/caep/event-type/credential-change";
const ACCOUNT_DISABLED = "https://schemas.openid.net/secevent/risc/event-type/account-disabled";

const postgresSkip = await postgresSkipReason();

const playerOf = (body: unknown) => (body as { userId?: string } | undefined)?.userId;

describe("Global Token Revocation and the Shared Signals receiver", () => {
  let svc: TestService;
  let client: Client<typeof SessionControl>;
  let casino: FakeLuckyMonaco;
  let listener: SetReceiver;
  let gtrIdp: TestIdp;
  let scopedIdp: TestIdp;
  let transmitter: TestIdp;
  let impostor: TestIdp;
  const as = (role: Role) => ({ headers: bearer(svc.keys[role]) });

  beforeAll(async () => {
    [casino, listener, gtrIdp, scopedIdp, transmitter, impostor] = await Promise.all([
      FakeLuckyMonaco.start(),
      SetReceiver.ssf(),
      TestIdp.start(),
      TestIdp.start(),
      TestIdp.start(),
      // Signs as if it were this service: its SETs are never acted on, even from a configured transmitter.
      TestIdp.start(PUBLIC_URL),
    ]);
    process.env["IN_LM_TOKEN"] = "lm-token-inbound";
    svc = await startTestService({}, {
      public_url: PUBLIC_URL,
      providers: [
        { name: "local", type: "local" },
        { name: "casino", type: "luckymonaco", base_url: casino.url, secure_login: "partner-7", token: "env:IN_LM_TOKEN", max_attempts: 1, timeout_ms: 5000 },
      ],
      default_provider: "local",
      operations: { poll_ms: 50, lease_ms: 5000, retry_initial_ms: 100, retry_max_ms: 300, call_timeout_ms: 4000 },
      notifications: { receivers: [{ name: "listener", kind: "ssf", endpoint: listener.url }], poll_ms: 50, lease_ms: 5000, request_timeout_ms: 2000 },
      gtr: {
        callers: [
          { issuer: gtrIdp.issuer, jwks_uri: gtrIdp.jwksUri, jwks_cooldown_ms: 1000, subject_issuers: ["https://idp.example"] },
          { issuer: scopedIdp.issuer, jwks_uri: scopedIdp.jwksUri, required_scope: "revoke:sessions" },
        ],
      },
      ssf: {
        transmitters: [
          { issuer: transmitter.issuer, jwks_uri: transmitter.jwksUri, jwks_cooldown_ms: 1000, subject_issuers: ["https://idp.example"] },
          { issuer: impostor.issuer, jwks_uri: impostor.jwksUri },
        ],
      },
    });
    listener.trust({ issuer: PUBLIC_URL, jwksUrl: `${svc.baseUrl}/jwks.json`, audience: listener.origin });
    client = grpcClient(svc);
  });
  afterAll(async () => {
    await svc?.stop();
    await Promise.all([casino?.close(), listener?.close()]);
  });
  beforeEach(async () => {
    casino.reset();
    for (const userId of ["alice", "bob"]) await client.deleteUserLinks({ userId }, as("linker")).catch(() => undefined);
    await client.setUserLinks(
      { userId: "alice", emails: ["alice@example.com"], identities: [{ iss: "https://idp.example", sub: "248289761001" }], providerUserIds: { casino: "lm-alice" } },
      as("linker"),
    );
  });

  /** Two live sessions of alice in the embedded store. */
  async function aliceSessions(): Promise<string[]> {
    return Promise.all([1, 2].map(async () => (await client.createSession({ userId: "alice" }, as("admin"))).sessionId));
  }

  async function ended(ids: string[]): Promise<boolean[]> {
    return Promise.all(ids.map(async (id) => (await client.getSession({ sessionId: id }, as("admin"))).session?.termination !== undefined));
  }

  function gtr(token: string | undefined, body: unknown, contentType = "application/json") {
    return fetch(`${svc.baseUrl}/global-token-revocation`, {
      method: "POST",
      headers: { "content-type": contentType, ...(token !== undefined && { authorization: `Bearer ${token}` }) },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  }

  function gtrToken(idp = gtrIdp, claims: Record<string, unknown> = {}, options: Parameters<TestIdp["sign"]>[1] = {}) {
    return idp.sign({ sub: "okta-universal-logout", aud: GTR_AUDIENCE, ...claims }, options);
  }

  function push(set: string, contentType = "application/secevent+jwt") {
    return fetch(`${svc.baseUrl}/ssf/events`, { method: "POST", headers: { "content-type": contentType }, body: set });
  }

  function sessionRevokedSet(idp: TestIdp, subId: unknown, over: Record<string, unknown> = {}, options: Parameters<TestIdp["sign"]>[1] = {}) {
    return idp.sign({ aud: PUBLIC_URL, sub_id: subId, events: { [SESSION_REVOKED]: { event_timestamp: Math.floor(Date.now() / 1000), reason_admin: { en: "account compromised" } } }, ...over }, { typ: "secevent+jwt", expiresIn: null, ...options });
  }

  it("GTR: a subject by email ends the user's sessions in the embedded store and upstream through the links, once", async () => {
    const sessions = await aliceSessions();
    const token = await gtrToken();
    const res = await gtr(token, { sub_id: { format: "email", email: "Alice@Example.com" } });
    expect(res.status).toBe(204);
    const operationId = res.headers.get("session-control-operation")!;
    const operation = await operationDone(client, operationId, as("admin").headers);
    expect(operation).toMatchObject({ userId: "alice", principal: gtrIdp.issuer, reason: `global token revocation by ${gtrIdp.issuer}` });
    expect(await ended(sessions)).toEqual([true, true]);
    expect(casino.requests.map((r) => playerOf(r.body))).toEqual(["lm-alice"]);
    const events = (await client.listEvents({ userId: "alice", principal: gtrIdp.issuer }, as("admin"))).events;
    expect(events.filter((e) => e.code === "OK").map((e) => e.sessionId).sort()).toEqual(expect.arrayContaining([...sessions].sort()));
    expect((await client.listOperations({ userId: "alice" }, as("admin"))).operations.map((o) => o.id)).toContain(operationId);
    // Every session-revoked SET of this operation says a policy ended it.
    await until("the listener to get alice's SETs", () => sessions.every((id) => listener.revoked().some((s) => s.claims.sub_id.session?.id === id)) || undefined);
    const mine = listener.revoked().filter((s) => sessions.includes(s.claims.sub_id.session?.id ?? ""));
    expect(mine.map((s) => s.claims.events[SESSION_REVOKED]!["initiating_entity"])).toEqual(["policy", "policy"]);

    // The same token again: refused, nothing started.
    const before = (await client.listOperations({ userId: "alice" }, as("admin"))).operations.length;
    const replay = await gtr(token, { sub_id: { format: "email", email: "alice@example.com" } });
    expect([replay.status, replay.headers.get("cache-control")]).toEqual([401, "no-store"]);
    expect(await replay.json()).toEqual({ error: "invalid_token", error_description: expect.stringContaining("jti") });
    expect((await client.listOperations({ userId: "alice" }, as("admin"))).operations).toHaveLength(before);
  });

  it("GTR: iss_sub and opaque subjects resolve too; unknown subjects are 404, unsupported formats and bad bodies 400", async () => {
    for (const sub_id of [{ format: "iss_sub", iss: "https://idp.example", sub: "248289761001" }, { format: "opaque", id: "alice" }]) {
      const res = await gtr(await gtrToken(), { sub_id });
      expect(res.status, JSON.stringify(sub_id)).toBe(204);
      await operationDone(client, res.headers.get("session-control-operation")!, as("admin").headers);
    }
    const cases: [unknown, number, string][] = [
      [{ sub_id: { format: "email", email: "nobody@example.com" } }, 404, "user_not_found"],
      [{ sub_id: { format: "iss_sub", iss: "https://idp.example", sub: "unknown" } }, 404, "user_not_found"],
      [{ sub_id: { format: "phone_number", phone_number: "+12065550100" } }, 400, "invalid_request"],
      [{ sub_id: { format: "email" } }, 400, "invalid_request"],
      [{ subject: "alice" }, 400, "invalid_request"],
      ["{not json", 400, "invalid_request"],
    ];
    for (const [body, status, error] of cases) {
      const res = await gtr(await gtrToken(), body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(await res.json()).toMatchObject({ error });
    }
    expect((await gtr(await gtrToken(), { sub_id: { format: "opaque", id: "alice" } }, "text/plain")).status).toBe(400);
  });

  it("refuses an iss_sub subject of an issuer the caller may not name: GTR 403, SSF access_denied", async () => {
    const sessions = await aliceSessions();
    const foreign = { format: "iss_sub", iss: "https://other-tenant.example", sub: "248289761001" };
    const res = await gtr(await gtrToken(), { sub_id: foreign });
    expect(res.status).toBe(403);
    const pushed = await push(await sessionRevokedSet(transmitter, { format: "complex", user: foreign }));
    expect([pushed.status, ((await pushed.json()) as { err: string }).err]).toEqual([400, "access_denied"]);
    // The scoped caller names none but its own issuer's.
    const scoped = await gtr(await gtrToken(scopedIdp, { scope: "revoke:sessions" }), { sub_id: { format: "iss_sub", iss: "https://idp.example", sub: "248289761001" } });
    expect(scoped.status).toBe(403);
    expect(await ended(sessions)).toEqual([false, false]);
  });

  it("GTR: refuses tokens by the check they fail, and accepts a rotated key without a restart", async () => {
    const sub = { sub_id: { format: "email", email: "alice@example.com" } };
    const stranger = await TestIdp.start();
    const refused: [string, string | undefined][] = [
      ["no token", undefined],
      ["wrong audience", await gtrToken(gtrIdp, { aud: PUBLIC_URL })],
      ["expired", await gtrToken(gtrIdp, {}, { issuedAtOffset: -900, expiresIn: 300 })],
      ["lives too long", await gtrToken(gtrIdp, {}, { expiresIn: 3600 })],
      ["no jti", await gtrToken(gtrIdp, { jti: undefined })],
      ["HS256", await gtrIdp.signHs256({ aud: GTR_AUDIENCE, jti: "hs" })],
      ["alg none", `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(JSON.stringify({ iss: gtrIdp.issuer, aud: GTR_AUDIENCE, jti: "none", iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 })).toString("base64url")}.`],
      ["unknown issuer", await gtrToken(stranger)],
      ["a SET (typ)", await gtrToken(gtrIdp, {}, { typ: "secevent+jwt" })],
      ["a SET (events)", await gtrToken(gtrIdp, { events: { "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {} } })],
      ["jti not a string", await gtrToken(gtrIdp, { jti: { a: 1 } })],
      ["jti too long", await gtrToken(gtrIdp, { jti: "j".repeat(256) })],
    ];
    for (const [what, token] of refused) {
      const res = await gtr(token, sub);
      expect(res.status, what).toBe(401);
      expect(res.headers.get("www-authenticate"), what).toMatch(/^Bearer /);
      const text = await res.text();
      for (const part of (token ?? "").split(".").filter((p) => p.length > 8)) expect(text, what).not.toContain(part);
    }
    const rotated = await gtrIdp.addKey("RS256", false);
    const next = await gtrToken(gtrIdp, {}, { kid: rotated });
    expect((await gtr(next, sub)).status).toBe(401);
    gtrIdp.publish(rotated);
    // Fetched again once the cooldown (1 s, the least allowed) has passed since the last fetch.
    const accepted = await until("the rotated key to be accepted", async () => {
      const res = await gtr(await gtrToken(gtrIdp, {}, { kid: rotated }), sub);
      return res.status === 204 ? res : undefined;
    }, { everyMs: 250 });
    await operationDone(client, accepted.headers.get("session-control-operation")!, as("admin").headers);

    // A caller that needs a scope: without it 403, with it 204.
    const unscoped = await gtr(await gtrToken(scopedIdp, { scope: "openid" }), sub);
    expect([unscoped.status, ((await unscoped.json()) as { error: string }).error]).toEqual([403, "insufficient_scope"]);
    const scoped = await gtr(await gtrToken(scopedIdp, { scope: "openid revoke:sessions" }), sub);
    expect(scoped.status).toBe(204);
    await operationDone(client, scoped.headers.get("session-control-operation")!, as("admin").headers);
    expect((await fetch(`${svc.baseUrl}/global-token-revocation`)).status).toBe(405);
  });

  it("GTR: 422 when no provider can end the user's sessions", async () => {
    // Every provider refuses for good: the casino rejects our credentials, and the embedded store is left out by the links.
    casino.answerAlways({ body: { error: 54, description: "Wrong secure login or token" } });
    const only = await startTestService({}, {
      public_url: PUBLIC_URL,
      providers: [{ name: "casino", type: "luckymonaco", base_url: casino.url, secure_login: "partner-7", token: "env:IN_LM_TOKEN", max_attempts: 1, timeout_ms: 5000 }],
      gtr: { callers: [{ issuer: gtrIdp.issuer, jwks_uri: gtrIdp.jwksUri }] },
      limits: { failed_auth_per_address: 3 },
    });
    try {
      const linker = grpcClient(only);
      await linker.setUserLinks({ userId: "bob", emails: ["bob@example.com"], providerUserIds: { casino: "lm-bob" } }, { headers: bearer(only.keys.linker) });
      const res = await fetch(`${only.baseUrl}/global-token-revocation`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${await gtrToken()}` },
        body: JSON.stringify({ sub_id: { format: "email", email: "bob@example.com" } }),
      });
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ error: "unable_to_log_out" });
      const operation = (await linker.getOperation({ id: res.headers.get("session-control-operation")! }, { headers: bearer(only.keys.admin) })).operation!;
      expect(operation.providers[0]?.failures[0]?.reason).toBe("PROVIDER_CREDENTIALS_REJECTED");

      // Refused tokens count against the client's address as unknown API keys do: past the limit, 429 with Retry-After.
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const refused = await fetch(`${only.baseUrl}/global-token-revocation`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${await gtrIdp.signHs256({ aud: GTR_AUDIENCE })}` }, body: "{}" });
        statuses.push(refused.status);
        if (refused.status === 429) expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await only.stop();
    }
  });

  it("SSF: a pushed session-revoked SET ends the user's sessions through the links, answered 202; a replay is refused", async () => {
    const sessions = await aliceSessions();
    const set = await sessionRevokedSet(transmitter, { format: "complex", user: { format: "iss_sub", iss: "https://idp.example", sub: "248289761001" }, session: { format: "opaque", id: "idp-session-1" } });
    const res = await push(set);
    expect(res.status).toBe(202);
    const operation = await until("the SET's operation", async () => (await client.listOperations({ userId: "alice" }, as("admin"))).operations.find((o) => o.principal === transmitter.issuer));
    expect(operation.reason).toBe(`shared signals session_revoked from ${transmitter.issuer}: account compromised`);
    await operationDone(client, operation.id, as("admin").headers);
    expect(await ended(sessions)).toEqual([true, true]);
    expect(casino.requests.map((r) => playerOf(r.body))).toEqual(["lm-alice"]);

    const again = await push(set);
    expect([again.status, again.headers.get("cache-control")]).toEqual([400, "no-store"]);
    expect(await again.json()).toEqual({ err: "invalid_request", description: "this SET (jti) was received before" });
  });

  it("SSF: RISC account-disabled acts, credential-change is ignored by default, an unknown subject is acknowledged", async () => {
    const sessions = await aliceSessions();
    const byTransmitter = async () => (await client.listOperations({ userId: "alice" }, as("admin"))).operations.filter((o) => o.principal === transmitter.issuer).length;
    const before = await byTransmitter();
    const ignored = await transmitter.sign({ aud: PUBLIC_URL, sub_id: { format: "email", email: "alice@example.com" }, events: { [CREDENTIAL_CHANGE]: { credential_type: "password", change_type: "update" } } }, { typ: "secevent+jwt", expiresIn: null });
    expect((await push(ignored)).status).toBe(202);
    const unknown = await sessionRevokedSet(transmitter, { format: "email", email: "nobody@example.com" });
    expect((await push(unknown)).status).toBe(202);
    expect(await ended(sessions)).toEqual([false, false]);
    expect(await byTransmitter()).toBe(before);

    const disabled = await transmitter.sign({ aud: PUBLIC_URL, sub_id: { format: "opaque", id: "alice" }, events: { [ACCOUNT_DISABLED]: { reason: "hijacking" } } }, { typ: "secevent+jwt", expiresIn: null });
    expect((await push(disabled)).status).toBe(202);
    await until("alice's sessions to end", async () => ((await ended(sessions)).every(Boolean) ? true : undefined));
  });

  it("a client that leaves before its body is read gets nothing and logs no error", async () => {
    for (const path of ["/ssf/events", "/global-token-revocation"]) {
      const socket = connect(svc.port, "127.0.0.1");
      await new Promise((resolve) => socket.once("connect", resolve));
      const auth = path === "/ssf/events" ? "" : `Authorization: Bearer ${await gtrToken()}\r\n`;
      const type = path === "/ssf/events" ? "application/secevent+jwt" : "application/json";
      // A tenth of the body it declares; once the bytes are handed to the kernel, the client leaves.
      await new Promise((resolve) => socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\n${auth}Content-Length: 1000\r\n\r\n${"x".repeat(100)}`, resolve));
      socket.destroy();
      await until(`the ${path} call line`, () => svc.logs.find((l) => l["procedure"] === `POST ${path}` && l["code"] === "CANCELED"));
    }
    expect(svc.logs.filter((l) => (l["level"] as number) >= 50)).toEqual([]);
  });

  it("SSF: refuses SETs with RFC 8935 error codes, and never acts on one issued by this service", async () => {
    const sub = { format: "email", email: "alice@example.com" };
    const stranger = await TestIdp.start();
    const good = await sessionRevokedSet(transmitter, sub);
    const [h, , signature] = good.split(".");
    const cases: [string, string, string, string?][] = [
      ["wrong audience", await sessionRevokedSet(transmitter, sub, { aud: "https://elsewhere.example" }), "invalid_audience"],
      ["unknown issuer", await sessionRevokedSet(stranger, sub), "invalid_issuer"],
      ["this service's own issuer", await sessionRevokedSet(impostor, sub), "invalid_issuer"],
      ["typ JWT", await sessionRevokedSet(transmitter, sub, {}, { typ: "JWT" }), "invalid_request"],
      ["HS256", await transmitter.signHs256({ aud: PUBLIC_URL, jti: "hs", sub_id: sub, events: { [SESSION_REVOKED]: {} } }), "invalid_key"],
      ["forged signature", `${h}.${Buffer.from(JSON.stringify({ iss: transmitter.issuer, aud: PUBLIC_URL, jti: "forged", iat: Math.floor(Date.now() / 1000), sub_id: { format: "email", email: "bob@example.com" }, events: { [SESSION_REVOKED]: {} } })).toString("base64url")}.${signature}`, "authentication_failed"],
      ["too old", await sessionRevokedSet(transmitter, sub, {}, { issuedAtOffset: -8 * 24 * 3600 }), "invalid_request"],
      ["jti not a string", await sessionRevokedSet(transmitter, sub, { jti: 7 }), "invalid_request"],
      ["no events", await transmitter.sign({ aud: PUBLIC_URL, sub_id: sub }, { typ: "secevent+jwt", expiresIn: null }), "invalid_request"],
      ["not a JWT", "hello", "invalid_request"],
      ["JSON instead of a SET", good, "invalid_request", "application/json"],
    ];
    for (const [what, set, err, type] of cases) {
      const res = await push(set, type);
      expect(res.status, what).toBe(400);
      const body = (await res.json()) as { err: string; description: string };
      expect(body.err, what).toBe(err);
      for (const part of set.split(".").filter((p) => p.length > 8)) expect(body.description, what).not.toContain(part);
    }
    // A key the transmitter has not published yet is invalid_key; once published, it is accepted without a restart.
    const rotated = await transmitter.addKey("ES256", false);
    const early = await push(await sessionRevokedSet(transmitter, sub, {}, { kid: rotated }));
    expect([early.status, ((await early.json()) as { err: string }).err]).toEqual([400, "invalid_key"]);
    transmitter.publish(rotated);
    await until("the rotated key to be accepted", async () => (await push(await sessionRevokedSet(transmitter, sub, {}, { kid: rotated }))).status === 202, { everyMs: 250 });
  });
});

describe.skipIf(postgresSkip !== undefined)("Global Token Revocation on two replicas", () => {
  it("acts on a token once across replicas sharing PostgreSQL", async () => {
    const schema = freshSchema();
    await withClient((c) => c.query(`CREATE SCHEMA ${schema}`));
    const idp = await TestIdp.start();
    const config = { store: storeUrl(schema), public_url: PUBLIC_URL, gtr: { callers: [{ issuer: idp.issuer, jwks_uri: idp.jwksUri }] } };
    const a = await startTestService({}, config);
    const b = await startTestService({}, config);
    try {
      await grpcClient(a).setUserLinks({ userId: "carol", emails: ["carol@example.com"] }, { headers: bearer(a.keys.linker) });
      const token = await idp.sign({ aud: GTR_AUDIENCE });
      const send = (svc: TestService) =>
        fetch(`${svc.baseUrl}/global-token-revocation`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ sub_id: { format: "email", email: "carol@example.com" } }) });
      const statuses = (await Promise.all([send(a), send(b), send(a), send(b)])).map((r) => r.status).sort();
      expect(statuses).toEqual([204, 401, 401, 401]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await dropSchema(schema);
    }
  });
});
