import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { allClients, type ClientUnderTest } from "../helpers/clients.js";
import { counterValue } from "../helpers/metrics.js";
import { bearer, callLinesWritten, METRICS_WITH_TOKEN, startTestService, type TestService } from "../helpers/service.js";
import { TestIdp } from "../helpers/test-idp.js";
import { until } from "../helpers/wait.js";

const { createSession, getSession, terminate, listSessions } = SessionControl.method;

/** Zitadel's roles claim: an object whose keys are the role names (values: the organisations granting them). */
const ZITADEL_ROLES = "urn:zitadel:iam:org:project:roles";
const ZITADEL_ISSUER = "https://zitadel.example";
const ZITADEL_AUDIENCE = "project-1234";
const FILE_ISSUER = "https://file-idp.example";

/** A running service trusting three issuers, and every token and error text seen, to search for token text at the end. */
interface World {
  svc: TestService;
  /** Issuer by JWKS URL, every default: aud = the service's URL, sub names the caller and its user, `permissions` an array. */
  idp: TestIdp;
  /** Zitadel-like: its own audience, roles in an object claim, mapped by permission_map. */
  zitadel: TestIdp;
  /** Issuer by JWKS file: the user in `uid`, permissions in an OAuth `scope` string. */
  fileIdp: TestIdp;
  clients: ClientUnderTest[];
  tokens: string[];
  texts: string[];
}

let current: World | undefined;
afterEach(async () => {
  const w = current;
  current = undefined;
  if (!w) return;
  for (const c of w.clients) c.close();
  try {
    await callLinesWritten(w.svc);
    const logs = w.svc.logText();
    // No token, nor the signature or payload part of one, in any log line or error text.
    for (const token of w.tokens) {
      for (const part of [token, ...token.split(".").filter((p) => p.length > 16)]) {
        expect(logs).not.toContain(part);
        for (const text of w.texts) expect(text).not.toContain(part);
      }
    }
  } finally {
    await w.svc.stop();
  }
});

async function world(extra: Record<string, unknown> = {}): Promise<World> {
  const idp = await TestIdp.start();
  const zitadel = await TestIdp.start(ZITADEL_ISSUER);
  const fileIdp = await TestIdp.start(FILE_ISSUER);
  const jwksFile = fileIdp.writeJwks(join(mkdtempSync(join(tmpdir(), "sc-jwks-")), "jwks.json"));
  const svc = await startTestService({}, {
    auth: {
      jwt_issuers: [
        { issuer: idp.issuer, jwks_uri: idp.jwksUri, jwks_cooldown_ms: 1000 },
        {
          issuer: ZITADEL_ISSUER,
          jwks_uri: zitadel.jwksUri,
          jwks_cooldown_ms: 1000,
          audience: ZITADEL_AUDIENCE,
          permissions_claim: ZITADEL_ROLES,
          permission_map: { "session-admin": ["session.delete", "session.read"], viewer: ["session.read"] },
        },
        { issuer: FILE_ISSUER, jwks_file: jwksFile, algorithms: ["ES256"], user_id_claim: "uid", permissions_claim: "scope" },
      ],
    },
    // The refusals below come from one address: they are not what this service's limit is tested with.
    limits: { failed_auth_per_address: 10_000 },
    ...extra,
  });
  current = { svc, idp, zitadel, fileIdp, clients: allClients(svc.baseUrl), tokens: [], texts: [] };
  return current;
}

/** Signs with `idp` and remembers the token, so that the end of the test can look for it in logs and errors. */
async function token(w: World, idp: TestIdp, claims: Record<string, unknown>, options?: Parameters<TestIdp["sign"]>[1]): Promise<string> {
  const t = await idp.sign(claims, options);
  w.tokens.push(t);
  return t;
}

function kept(w: World, t: string): string {
  w.tokens.push(t);
  return t;
}

interface Refusal {
  code: Code;
  reason: string | undefined;
  retryInfo: boolean;
}

/** The code, ErrorInfo reason and presence of RetryInfo of a failed call, from connect-es and @grpc/grpc-js alike; its texts are kept. */
async function refusal(w: World, p: Promise<unknown>): Promise<Refusal> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error("expected the call to fail");
  if (err instanceof ConnectError) {
    const infos = err.findDetails(ErrorInfoSchema);
    w.texts.push(err.message, ...infos.flatMap((i) => [i.reason, ...Object.values(i.metadata)]));
    return { code: err.code, reason: infos[0]?.reason, retryInfo: err.findDetails(RetryInfoSchema).length > 0 };
  }
  // @grpc/grpc-js: the details are google.rpc.Status in the grpc-status-details-bin trailer.
  const e = err as grpc.ServiceError;
  w.texts.push(e.message, e.details);
  const bin = e.metadata.get("grpc-status-details-bin")[0];
  const status = bin instanceof Buffer ? fromBinary(StatusSchema, bin) : undefined;
  const unpacked = (status?.details ?? []).map((a) => anyUnpack(a, ErrorInfoSchema)).find((i) => i !== undefined);
  const retry = (status?.details ?? []).some((a) => anyUnpack(a, RetryInfoSchema) !== undefined);
  return { code: e.code as number as Code, reason: unpacked?.reason, retryInfo: retry };
}

async function newSession(w: World, userId: string): Promise<string> {
  return (await w.clients[1]!.call(createSession, { userId, resourceOwner: "org-jwt" }, bearer(w.svc.keys.admin))).sessionId;
}

async function endedBy(w: World, sessionId: string): Promise<string | undefined> {
  return (await w.clients[1]!.call(getSession, { sessionId }, bearer(w.svc.keys.admin))).session?.termination?.terminatedBy;
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("JWT callers", () => {
  it("accept a token of a configured issuer on every client and the REST surface: Terminate and ListSessions with the claim's permissions, the caller named <issuer>#<sub>", async () => {
    const w = await world();
    const principal = `${w.idp.issuer}#svc-reports`;
    for (const client of w.clients) {
      const t = await token(w, w.idp, { sub: "svc-reports", aud: w.svc.baseUrl, permissions: ["session.delete", "session.read", "not.ours"] });
      const sessionId = await newSession(w, `user-${client.name}`);
      const ended = await client.call(terminate, { sessionId, reason: "jwt" }, bearer(t));
      expect(ended.alreadyTerminated, client.name).toBe(false);
      expect(await endedBy(w, sessionId), client.name).toBe(principal);
      const listed = await client.call(listSessions, { userId: `user-${client.name}` }, bearer(t));
      expect(listed.sessions.map((s) => s.id), client.name).toEqual([sessionId]);
    }
    // REST DeleteSession, authenticated by the same function.
    const sessionId = await newSession(w, "user-rest");
    const t = await token(w, w.idp, { sub: "svc-reports", aud: `${w.svc.baseUrl}/`, permissions: ["session.delete"] });
    const res = await fetch(`${w.svc.baseUrl}/v2/sessions/${sessionId}`, { method: "DELETE", headers: { "content-type": "application/json", ...bearer(t) }, body: "{}" });
    expect(res.status).toBe(200);
    expect(await endedBy(w, sessionId)).toBe(principal);
    // The call lines name the principal, never the token.
    await callLinesWritten(w.svc);
    expect(w.svc.logs.filter((l) => l["msg"] === "call" && l["principal"] === principal).length).toBeGreaterThanOrEqual(w.clients.length * 2 + 1);
  });

  it("refuse each bad token UNAUTHENTICATED with the reason of the check it failed, on every client and REST", async () => {
    const w = await world();
    const aud = w.svc.baseUrl;
    const stranger = await TestIdp.start("https://unknown-issuer.example");
    const good = await token(w, w.idp, { sub: "svc", aud, permissions: ["session.delete"] });
    const [header, , signature] = good.split(".");
    const cases: [string, string][] = [
      ["TOKEN_AUDIENCE_INVALID", await token(w, w.idp, { sub: "svc", aud: "https://someone-else.example", permissions: ["session.delete"] })],
      ["TOKEN_EXPIRED", await token(w, w.idp, { sub: "svc", aud }, { issuedAtOffset: -1000, expiresIn: 100 })],
      ["TOKEN_ALGORITHM_REFUSED", kept(w, await w.idp.signHs256({ sub: "svc", aud, permissions: ["session.delete"] }))],
      // alg none, made by hand: a header, a payload and an empty signature.
      ["TOKEN_ALGORITHM_REFUSED", kept(w, `${b64({ alg: "none", typ: "JWT" })}.${b64({ iss: w.idp.issuer, aud, sub: "svc", permissions: ["session.delete"], exp: Math.floor(Date.now() / 1000) + 300 })}.`)],
      ["TOKEN_ISSUER_UNKNOWN", await token(w, stranger, { sub: "svc", aud })],
      ["TOKEN_SIGNATURE_INVALID", kept(w, `${header}.${b64({ iss: w.idp.issuer, aud, sub: "admin", permissions: ["session.delete"], exp: 4_000_000_000 })}.${signature}`)],
      ["TOKEN_NOT_YET_VALID", await token(w, w.idp, { sub: "svc", aud, nbf: Math.floor(Date.now() / 1000) + 600 })],
      ["TOKEN_CLAIMS_INVALID", await token(w, w.idp, { aud, permissions: ["session.delete"] })],
      // An access token without exp would be good forever.
      ["TOKEN_CLAIMS_INVALID", await token(w, w.idp, { sub: "svc", aud, permissions: ["session.delete"] }, { expiresIn: null })],
      ["TOKEN_TYPE_INVALID", await token(w, w.idp, { sub: "svc", aud }, { typ: "secevent+jwt" })],
      ["TOKEN_TYPE_INVALID", await token(w, w.idp, { sub: "svc", aud, events: { "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {} } })],
      ["TOKEN_MALFORMED", kept(w, "bm90LWpzb24.bm90LWpzb24.c2ln")],
    ];
    const sessionId = await newSession(w, "bob");
    for (const client of w.clients) {
      for (const [reason, t] of cases) {
        const got = await refusal(w, client.call(terminate, { sessionId }, bearer(t)));
        expect(got, `${client.name}: ${reason}`).toEqual({ code: Code.Unauthenticated, reason, retryInfo: false });
      }
    }
    // REST: 401 with the same reason.
    for (const [reason, t] of cases) {
      const res = await fetch(`${w.svc.baseUrl}/v2/sessions/${sessionId}`, { method: "DELETE", headers: { "content-type": "application/json", ...bearer(t) }, body: "{}" });
      const body = await res.text();
      w.texts.push(body);
      expect(res.status, reason).toBe(401);
      expect(body, reason).toContain(reason);
    }
    expect(await endedBy(w, sessionId)).toBeUndefined();
    // The same token with a good signature is accepted.
    expect((await w.clients[0]!.call(terminate, { sessionId }, bearer(good))).alreadyTerminated).toBe(false);
  });

  it("refuse a key id the issuer has not published, then accept it once the JWKS shows it, without a restart", async () => {
    const w = await world();
    const sessionId = await newSession(w, "bob");
    const claims = { sub: "svc", aud: w.svc.baseUrl, permissions: ["session.delete"] };
    // The current key is fetched once first, so that the rotation is a refetch.
    await w.clients[1]!.call(listSessions, { userId: "bob" }, bearer(await token(w, w.idp, { ...claims, sub: "bob" })));
    const rotated = await w.idp.addKey("RS256", false);
    const t = await token(w, w.idp, claims, { kid: rotated });
    for (const client of w.clients) {
      expect(await refusal(w, client.call(terminate, { sessionId }, bearer(t))), client.name).toEqual({ code: Code.Unauthenticated, reason: "TOKEN_KEY_UNKNOWN", retryInfo: false });
    }
    w.idp.publish(rotated);
    // Fetched again once the cooldown (1 s, the least allowed) has passed since the last fetch.
    const ended = await until("the rotated key to be accepted", () => w.clients[0]!.call(terminate, { sessionId }, bearer(t)).catch(() => undefined), { everyMs: 250 });
    expect(ended.alreadyTerminated).toBe(false);
    expect(w.idp.jwksFetches).toBeGreaterThanOrEqual(2);
  });

  it("answer PERMISSION_DENIED to a token whose permissions lack session.delete; values that are not our permissions grant nothing", async () => {
    const w = await world();
    const sessionId = await newSession(w, "bob");
    const reader = await token(w, w.idp, { sub: "svc-reader", aud: w.svc.baseUrl, permissions: ["session.read", "admin", "session.delete "] });
    for (const client of w.clients) {
      expect(await refusal(w, client.call(terminate, { sessionId }, bearer(reader))), client.name).toEqual({ code: Code.PermissionDenied, reason: "PERMISSION_DENIED", retryInfo: false });
      expect((await client.call(listSessions, { userId: "bob" }, bearer(reader))).sessions.map((s) => s.id), client.name).toEqual([sessionId]);
    }
    const scoped = await token(w, w.idp, { sub: "svc-scoped", aud: w.svc.baseUrl, permissions: "session.delete" });
    // A space-separated string is read as well: this one grants session.delete.
    expect((await w.clients[0]!.call(terminate, { sessionId }, bearer(scoped))).alreadyTerminated).toBe(false);
    const object = await token(w, w.idp, { sub: "svc-other", aud: w.svc.baseUrl, permissions: 42 });
    expect((await refusal(w, w.clients[0]!.call(listSessions, {}, bearer(object)))).code).toBe(Code.PermissionDenied);
  });

  it("grant session.delete through a Zitadel-style roles object claim and permission_map; unmapped roles grant nothing", async () => {
    const w = await world();
    const admin = await token(w, w.zitadel, { sub: "312909075212468632", aud: [ZITADEL_AUDIENCE, "client-7"], [ZITADEL_ROLES]: { "session-admin": { "2123456789": "acme.zitadel.cloud" } } });
    // With a permission_map, even a role spelled like our permission grants nothing unless mapped.
    const viewer = await token(w, w.zitadel, { sub: "312909075212468633", aud: ZITADEL_AUDIENCE, [ZITADEL_ROLES]: { viewer: { "2123456789": "acme.zitadel.cloud" }, "session.delete": {} } });
    const wrongAud = await token(w, w.zitadel, { sub: "312909075212468632", aud: w.svc.baseUrl, [ZITADEL_ROLES]: { "session-admin": {} } });
    for (const client of w.clients) {
      const sessionId = await newSession(w, "bob");
      expect(await refusal(w, client.call(terminate, { sessionId }, bearer(viewer))), client.name).toEqual({ code: Code.PermissionDenied, reason: "PERMISSION_DENIED", retryInfo: false });
      expect((await client.call(listSessions, { userId: "bob" }, bearer(viewer))).sessions.map((s) => s.id), client.name).toContain(sessionId);
      expect(await refusal(w, client.call(terminate, { sessionId }, bearer(wrongAud))), client.name).toEqual({ code: Code.Unauthenticated, reason: "TOKEN_AUDIENCE_INVALID", retryInfo: false });
      expect((await client.call(terminate, { sessionId }, bearer(admin))).alreadyTerminated, client.name).toBe(false);
      expect(await endedBy(w, sessionId)).toBe(`${ZITADEL_ISSUER}#312909075212468632`);
    }
  });

  it("keep the own-session rule with user_id_claim, for an issuer whose keys are in a jwks_file and whose permissions are a scope string", async () => {
    const w = await world();
    const carols = await newSession(w, "carol");
    const bobs = await newSession(w, "bob");
    const carol = await token(w, w.fileIdp, { sub: "client-frontend", uid: "carol", aud: w.svc.baseUrl, scope: "openid profile" });
    for (const client of w.clients) {
      expect((await client.call(listSessions, { userId: "carol" }, bearer(carol))).sessions.map((s) => s.id), client.name).toEqual([carols]);
      expect(await refusal(w, client.call(listSessions, { userId: "bob" }, bearer(carol))), client.name).toMatchObject({ code: Code.PermissionDenied });
      expect(await refusal(w, client.call(terminate, { sessionId: bobs }, bearer(carol))), client.name).toMatchObject({ code: Code.PermissionDenied });
    }
    expect((await w.clients[0]!.call(terminate, { sessionId: carols }, bearer(carol))).alreadyTerminated).toBe(false);
    expect(await endedBy(w, carols)).toBe(`${FILE_ISSUER}#client-frontend`);
    const reader = await token(w, w.fileIdp, { sub: "client-ops", aud: w.svc.baseUrl, scope: "openid session.read" });
    expect((await w.clients[1]!.call(listSessions, { userId: "bob" }, bearer(reader))).sessions.map((s) => s.id)).toEqual([bobs]);
    // The file's issuer accepts ES256 only: another of its keys, once in the file, is refused by algorithm.
    const rsa = await w.fileIdp.addKey("RS256");
    expect(await refusal(w, w.clients[1]!.call(listSessions, { userId: "carol" }, bearer(await token(w, w.fileIdp, { sub: "x", uid: "carol", aud: w.svc.baseUrl }, { kid: rsa }))))).toMatchObject({ reason: "TOKEN_ALGORITHM_REFUSED" });
  });

  it("let API keys work alongside: a key is a key whatever the issuers, an unknown key is API_KEY_INVALID", async () => {
    const w = await world();
    const sessionId = await newSession(w, "bob");
    for (const client of w.clients) {
      expect(await refusal(w, client.call(getSession, { sessionId }, bearer("sck_not-a-key"))), client.name).toEqual({ code: Code.Unauthenticated, reason: "API_KEY_INVALID", retryInfo: false });
      expect(await refusal(w, client.call(getSession, { sessionId })), client.name).toEqual({ code: Code.Unauthenticated, reason: "API_KEY_INVALID", retryInfo: false });
      expect((await client.call(getSession, { sessionId }, bearer(w.svc.keys.reader))).session?.id, client.name).toBe(sessionId);
    }
    expect((await w.clients[0]!.call(terminate, { sessionId }, bearer(w.svc.keys.deleter))).alreadyTerminated).toBe(false);
    expect(await endedBy(w, sessionId)).toBe("deleter");
  });

  it("answer UNAVAILABLE, retryable, when the issuer's keys cannot be fetched", async () => {
    const w = await world();
    const t = await token(w, w.idp, { sub: "svc", aud: w.svc.baseUrl, permissions: ["session.read"] });
    await w.idp.close();
    for (const client of w.clients) {
      expect(await refusal(w, client.call(listSessions, {}, bearer(t))), client.name).toEqual({ code: Code.Unavailable, reason: "TOKEN_KEYS_UNAVAILABLE", retryInfo: true });
    }
  });

  it("count refused tokens toward the failed authentications of an address, as unknown keys are; a valid token from it still works", async () => {
    const limit = 3;
    const w = await world({ limits: { failed_auth_per_address: limit }, metrics: METRICS_WITH_TOKEN });
    // Connections from 127.0.0.9 (all of 127/8 is loopback), so other tests' calls do not count.
    const createConnection = (authority: URL) => net.connect({ host: authority.hostname, port: Number(authority.port), localAddress: "127.0.0.9" });
    const from: Client<typeof SessionControl> = createClient(SessionControl, createGrpcTransport({ baseUrl: w.svc.baseUrl, nodeOptions: { createConnection }, defaultTimeoutMs: 5_000 }));
    const expired = await token(w, w.idp, { sub: "svc", aud: w.svc.baseUrl }, { issuedAtOffset: -1000, expiresIn: 100 });
    const before = await counterValue(w.svc.baseUrl, "session_control_refused_total", { reason: "TOKEN_EXPIRED" });
    for (let i = 0; i < limit; i++) {
      expect(await refusal(w, from.listSessions({}, { headers: bearer(expired) }))).toEqual({ code: Code.Unauthenticated, reason: "TOKEN_EXPIRED", retryInfo: false });
    }
    expect(await refusal(w, from.listSessions({}, { headers: bearer(expired) }))).toEqual({ code: Code.ResourceExhausted, reason: "TOO_MANY_FAILED_AUTHENTICATIONS", retryInfo: true });
    expect(await refusal(w, from.listSessions({}, { headers: bearer("sck_unknown") }))).toMatchObject({ code: Code.ResourceExhausted, reason: "TOO_MANY_FAILED_AUTHENTICATIONS" });
    expect(await counterValue(w.svc.baseUrl, "session_control_refused_total", { reason: "TOKEN_EXPIRED" })).toBe(before + limit);
    const valid = await token(w, w.idp, { sub: "svc", aud: w.svc.baseUrl, permissions: ["session.read"] });
    expect((await from.listSessions({}, { headers: bearer(valid) })).sessions).toBeDefined();
    // Another address is not limited.
    expect(await refusal(w, w.clients[1]!.call(listSessions, {}, bearer(expired)))).toMatchObject({ code: Code.Unauthenticated, reason: "TOKEN_EXPIRED" });
  });
});

describe("JWT callers, not configured", () => {
  it("take a JWT-shaped credential for an unknown API key", async () => {
    const svc = await startTestService();
    try {
      const idp = await TestIdp.start();
      const t = await idp.sign({ sub: "svc", aud: svc.baseUrl, permissions: ["session.read"] });
      const client = allClients(svc.baseUrl)[1]!;
      const err = await client.call(listSessions, {}, bearer(t)).then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(err?.code).toBe(Code.Unauthenticated);
      expect(err?.findDetails(ErrorInfoSchema)[0]?.reason).toBe("API_KEY_INVALID");
    } finally {
      await svc.stop();
    }
  });
});
