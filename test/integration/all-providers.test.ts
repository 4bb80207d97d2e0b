import { randomBytes, randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import type { ListSessionsRequest } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionControl, type ProviderProgress } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { PROVIDER_TYPES } from "../../src/providers/registry.js";
import { FakeAuth0 } from "../fakes/auth0.js";
import { FakeEntra } from "../fakes/entra.js";
import { FakeGoogle, newServiceAccount } from "../fakes/google.js";
import { FakeKeycloak } from "../fakes/keycloak.js";
import { FakeKratos } from "../fakes/kratos.js";
import { FakeLuckyMonaco } from "../fakes/luckymonaco.js";
import { FakeOkta } from "../fakes/okta.js";
import { FakeRocketChat } from "../fakes/rocketchat.js";
import { FakeSenhasegura } from "../fakes/senhasegura.js";
import { FakeZitadel } from "../fakes/zitadel.js";
import { operationDone } from "../helpers/operations.js";
import { bearer, grpcClient, startTestService, type TestService } from "../helpers/service.js";

// Our credentials at each upstream.
const SECRETS = {
  AP_LM: `lm-${randomUUID()}`,
  AP_RC: `rc-${randomUUID()}`,
  AP_SS: `ss-${randomUUID()}`,
  AP_ZITADEL: `pat-${randomUUID()}`,
  AP_KC: `kc-${randomUUID()}`,
  AP_OKTA: `00okta-${randomBytes(12).toString("hex")}`,
  AP_AUTH0: `a0-${randomUUID()}`,
  AP_ENTRA: `entra-${randomUUID()}`,
};
const account = newServiceAccount();
const ADMIN = "admin@acme.example";
const SS_DROP_SUCCESS = JSON.stringify({ code: 200, response: { status: 200, message: "ok", error: false, error_code: 0, detail: "", mensagem: "ok", erro: false, cod_erro: 0 } });

describe("TerminateUser across all eleven provider types at once", () => {
  let svc: TestService;
  let client: Client<typeof SessionControl>;
  const fakes = {} as {
    casino: FakeLuckyMonaco;
    chat: FakeRocketChat;
    vault: FakeSenhasegura;
    zitadel: FakeZitadel;
    keycloak: FakeKeycloak;
    kratos: FakeKratos;
    okta: FakeOkta;
    auth0: FakeAuth0;
    entra: FakeEntra;
    google: FakeGoogle;
  };
  /** Sessions the Zitadel fake holds: id -> user. */
  const zitadelSessions = new Map<string, string>();
  const admin = () => ({ headers: bearer(svc.keys.admin), timeoutMs: 15_000 });

  beforeAll(async () => {
    for (const [k, v] of Object.entries(SECRETS)) process.env[k] = v;
    process.env["AP_GOOGLE_KEY"] = account.json();
    [fakes.casino, fakes.chat, fakes.vault, fakes.zitadel, fakes.keycloak, fakes.kratos, fakes.okta, fakes.auth0, fakes.entra, fakes.google] = await Promise.all([
      FakeLuckyMonaco.start(),
      FakeRocketChat.start(),
      FakeSenhasegura.start({ clientId: "sc-a2a", clientSecret: SECRETS.AP_SS, dropSuccess: SS_DROP_SUCCESS }),
      FakeZitadel.start(),
      FakeKeycloak.start({ realm: "acme", clientId: "session-control", clientSecret: SECRETS.AP_KC }),
      FakeKratos.start(),
      FakeOkta.start({ apiToken: SECRETS.AP_OKTA, clientId: "0oa-unused", publicKey: account.publicKey }),
      FakeAuth0.start({ clientId: "a0-client", clientSecret: SECRETS.AP_AUTH0 }),
      FakeEntra.start({ tenantId: "acme.onmicrosoft.com", clientId: "entra-app", clientSecret: SECRETS.AP_ENTRA }),
      FakeGoogle.start({ account, subject: ADMIN }),
    ]);
    fakes.chat.reset({ userId: "rc-admin", authToken: SECRETS.AP_RC });
    fakes.zitadel.listSessions = (req: ListSessionsRequest) => {
      const q = req.queries.find((x) => x.query.case === "userIdQuery")?.query;
      const userId = q?.case === "userIdQuery" ? q.value.id : "";
      const sessions = [...zitadelSessions].filter(([, u]) => u === userId).map(([id, u]) => ({ id, factors: { user: { id: u } } }));
      return { response: { sessions, details: { totalResult: BigInt(sessions.length) } } };
    };
    fakes.zitadel.deleteSession = (req) => {
      if (!zitadelSessions.delete(req.sessionId)) return { error: { code: Code.NotFound, message: "Errors.Session.NotFound" } };
      return { response: { details: { sequence: 7n, changeDate: timestampFromDate(new Date()), resourceOwner: "org-1" } } };
    };
    const common = { max_attempts: 1, breaker_failures: 1000, timeout_ms: 5000 };
    svc = await startTestService({}, {
      providers: [
        { name: "local", type: "local" },
        { name: "casino", type: "luckymonaco", base_url: fakes.casino.url, secure_login: "partner-7", token: "env:AP_LM", ...common },
        { name: "chat", type: "rocketchat", base_url: fakes.chat.url, user_id: "rc-admin", auth_token: "env:AP_RC", ...common },
        { name: "vault", type: "senhasegura", base_url: fakes.vault.url, client_id: "sc-a2a", client_secret: "env:AP_SS", ...common },
        { name: "zitadel", type: "zitadel", base_url: fakes.zitadel.url, token: "env:AP_ZITADEL", ...common },
        { name: "keycloak", type: "keycloak", base_url: fakes.keycloak.url, realm: "acme", client_id: "session-control", client_secret: "env:AP_KC", ...common },
        { name: "kratos", type: "kratos", admin_url: fakes.kratos.url, ...common },
        { name: "okta", type: "okta", base_url: fakes.okta.url, token: "env:AP_OKTA", ...common },
        { name: "auth0", type: "auth0", base_url: fakes.auth0.url, client_id: "a0-client", client_secret: "env:AP_AUTH0", ...common },
        { name: "entra", type: "entra", tenant_id: "acme.onmicrosoft.com", client_id: "entra-app", client_secret: "env:AP_ENTRA", graph_url: fakes.entra.url, login_url: fakes.entra.url, ...common },
        { name: "google", type: "google", service_account: "env:AP_GOOGLE_KEY", subject: ADMIN, base_url: fakes.google.url, token_url: fakes.google.tokenUri, ...common },
      ],
      default_provider: "local",
      operations: { poll_ms: 50, lease_ms: 5000, retry_initial_ms: 100, retry_max_ms: 300, call_timeout_ms: 4000 },
    });
    client = grpcClient(svc);
  });
  afterAll(async () => {
    await svc?.stop();
    await Promise.all(Object.values(fakes).map((f) => ("stop" in f ? (f as FakeZitadel).stop() : f.close())));
  });

  it("covers every provider type the configuration knows", () => {
    const configured = ["local", "luckymonaco", "rocketchat", "senhasegura", "zitadel", "keycloak", "kratos", "okta", "auth0", "entra", "google"];
    expect(PROVIDER_TYPES.map((t) => t.type).sort()).toEqual([...configured].sort());
  });

  it("ends a person's sessions in every system with one call, each system by its own id for the person, user-wide where the system can", async () => {
    const kratosId = randomUUID();
    const ids = { casino: "lm-carol", chat: "rc-carol", vault: "ss-carol", zitadel: "z-carol", keycloak: randomUUID(), kratos: kratosId, okta: "00u-carol", auth0: "auth0|carol", entra: "carol@acme.onmicrosoft.com", google: "carol@acme.example" };
    await client.setUserLinks({ userId: "carol", emails: ["carol@acme.example"], providerUserIds: ids }, { headers: bearer(svc.keys.linker), timeoutMs: 15_000 });
    const local = await Promise.all([1, 2].map(async () => (await client.createSession({ userId: "carol" }, admin())).sessionId));
    fakes.chat.addSession({ sessionId: "rc-s1", userId: ids.chat, loginToken: "lt-1", device: { name: "laptop" } });
    fakes.vault.sessions.push({ id: "1", user: ids.vault, origin_ip: "10.1.2.3", credential: "svc-db", device: "10.9.8.7:22", protocol: "ssh", proxy: "Web Proxy", session_id: "a".repeat(32), start: "2025-03-01 09:00:00", end: null, time: null, prevent_purge: "No", request: null, ITSM: null });
    zitadelSessions.set("zs-1", ids.zitadel).set("zs-2", ids.zitadel);
    fakes.keycloak.addSession(ids.keycloak);
    fakes.keycloak.addSession(ids.keycloak);
    fakes.kratos.addSession(kratosId);
    fakes.okta.addSession(ids.okta, "102okta-session");
    for (const id of ["a0-s1", "a0-s2", "a0-s3"]) fakes.auth0.addSession(ids.auth0, id);
    fakes.entra.users.add(ids.entra);
    fakes.google.users.add(ids.google);

    const started = await client.terminateUser({ userId: "carol", reason: "off-boarding" }, admin());
    const op = await operationDone(client, started.operation!.id, admin().headers);
    const by = new Map<string, ProviderProgress>(op.providers.map((p) => [p.provider, p]));
    expect([...by.keys()].sort()).toEqual(["auth0", "casino", "chat", "entra", "google", "keycloak", "kratos", "local", "okta", "vault", "zitadel"]);
    for (const p of op.providers) expect(p.failures, p.provider).toEqual([]);
    const ended = Object.fromEntries(op.providers.map((p) => [p.provider, p.sessionsEnded]));
    // Per session where the system ends one at a time; user-wide systems count what they listed (1 when they cannot list).
    expect(ended).toEqual({ local: 2, casino: 1, chat: 1, vault: 1, zitadel: 2, keycloak: 2, kratos: 1, okta: 1, auth0: 3, entra: 1, google: 1 });
    for (const [name, id] of Object.entries(ids)) expect(by.get(name)?.providerUserId, name).toBe(id);

    // Each identity provider got exactly one user-wide call, for its own id of the person.
    const paths = (reqs: { method: string; pathname: string }[], method: string, re: RegExp) => reqs.filter((r) => r.method === method && re.test(r.pathname)).map((r) => decodeURIComponent(r.pathname));
    expect(paths(fakes.keycloak.requests, "POST", /\/logout$/)).toEqual([`/admin/realms/acme/users/${ids.keycloak}/logout`]);
    expect(paths(fakes.keycloak.requests, "DELETE", /\/sessions\//)).toEqual([]);
    expect(paths(fakes.kratos.requests, "DELETE", /^\/admin\/identities\//)).toEqual([`/admin/identities/${kratosId}/sessions`]);
    expect(paths(fakes.okta.requests, "DELETE", /^\/api\/v1\/users\//)).toEqual([`/api/v1/users/${ids.okta}/sessions`]);
    expect(paths(fakes.auth0.requests, "DELETE", /^\/api\/v2\/users\//)).toEqual([`/api/v2/users/${ids.auth0}/sessions`]);
    expect(fakes.entra.revoked.get(ids.entra)).toBe(1);
    expect(fakes.google.signedOut.get(ids.google)).toBe(1);
    expect(zitadelSessions.size).toBe(0);
    for (const id of local) expect((await client.getSession({ sessionId: id }, admin())).session?.termination, id).toBeDefined();

    // The audit trail keeps one event per user-wide end, with session "*", under the system's id for the person.
    for (const p of ["keycloak", "kratos", "okta", "auth0", "entra", "google"] as const) {
      const events = (await client.listEvents({ provider: p, pageSize: 100 }, admin())).events.filter((e) => e.operationId === op.id);
      expect(events.map((e) => [e.sessionId, e.userId, e.code]), p).toEqual([["*", ids[p], "OK"]]);
    }
  });

  it("a Terminate through a user-wide-only system says all of the user's sessions there were ended; without user_id nothing is sent", async () => {
    fakes.entra.users.add("dave@acme.onmicrosoft.com");
    const ok = await client.terminate({ sessionId: "any", provider: "entra", userId: "dave@acme.onmicrosoft.com" }, admin());
    expect([ok.provider, ok.allUserSessions, ok.alreadyTerminated]).toEqual(["entra", true, false]);
    const local = await client.createSession({ userId: "dave" }, admin());
    expect((await client.terminate({ sessionId: local.sessionId }, admin())).allUserSessions).toBe(false);
    const before = fakes.google.requests.length;
    const err = await client.terminate({ sessionId: "any", provider: "google" }, admin()).then(() => undefined, (e: unknown) => e as { code: Code });
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(fakes.google.requests.length).toBe(before);
  });

  it("asks a key with a TOTP secret for its second factor before a user-wide-only Terminate, as TerminateUser does; '*' is no caller's session id", async () => {
    fakes.entra.users.add("erin@acme.onmicrosoft.com");
    const before = fakes.entra.revoked.size;
    const noCode = await client.terminate({ sessionId: "any", provider: "entra", userId: "erin@acme.onmicrosoft.com" }, { headers: bearer(svc.keys.stepup), timeoutMs: 15_000 }).then(() => undefined, (e: unknown) => e as { code: Code; message: string });
    expect([noCode?.code, noCode?.message]).toEqual([Code.Unauthenticated, expect.stringContaining("x-2fa-code")]);
    expect(fakes.entra.revoked.size).toBe(before);
    for (const provider of ["local", "auth0", "keycloak"]) {
      const star = await client.terminate({ sessionId: "*", provider, userId: "erin" }, admin()).then(() => undefined, (e: unknown) => e as { code: Code; message: string });
      expect([star?.code, star?.message], provider).toEqual([Code.InvalidArgument, expect.stringContaining("reserved")]);
    }
  });
});
