import { randomBytes } from "node:crypto";
import { generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { SessionControl } from "../../../gen/sessioncontrol/v1/session_control_pb.js";
import { bearer, grpcClient, pool } from "../clients.js";
import { H1Client, type RawAnswer } from "../raw-http.js";
import { attackerAddress, type Attack } from "../attack.js";
import { TRUSTED_IDP } from "../server.js";

const CONCURRENCY = 16;
const SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

/** Answers the two endpoints may give forgeries: refusals, never success, never a server error. */
const REFUSALS = new Set([400, 401, 413, 429]);

/**
 * Forged requests to the endpoints identity providers call: Global Token Revocation with tokens
 * signed by the attacker's key under the trusted issuer and kid, alg none, HS256, junk and
 * oversized tokens; SETs likewise, and bodies past 64 KiB. Each must be refused (400, 401, 413 or
 * 429: the refused tokens count toward limits.failed_auth_per_address), none may start an
 * operation, and no answer may hold a stack trace or the token sent.
 */
export const inboundForgeries: Attack = {
  name: "inbound-forgeries",
  what: "forged GTR tokens and SETs under the trusted issuer, alg none, HS256, junk and oversized bodies",
  async run(ctx) {
    const total = ctx.smoke ? 300 : 3_000;
    const { privateKey } = await generateKeyPair("ES256");
    const now = () => Math.floor(Date.now() / 1000);
    const forged = (claims: Record<string, unknown>, typ: string) =>
      new SignJWT({ iss: TRUSTED_IDP.issuer, jti: randomBytes(12).toString("hex"), iat: now(), exp: now() + 60, ...claims }).setProtectedHeader({ alg: "ES256", kid: TRUSTED_IDP.kid, typ }).sign(privateKey as CryptoKey);
    const gtrAud = `${ctx.server.baseUrl}/global-token-revocation`;
    const subject = { format: "email", email: "victim@example.com" };
    const set = { aud: ctx.server.baseUrl, sub_id: subject, events: { [SESSION_REVOKED]: {} } };
    /** One forgery per kind, picked by index. */
    const kinds: (() => Promise<{ path: string; token: string; body: Buffer; type: string }>)[] = [
      async () => ({ path: "/global-token-revocation", token: await forged({ aud: gtrAud }, "JWT"), body: Buffer.from(JSON.stringify({ sub_id: subject })), type: "application/json" }),
      async () => ({ path: "/global-token-revocation", token: `${b64({ alg: "none" })}.${b64({ iss: TRUSTED_IDP.issuer, aud: gtrAud, jti: "x", iat: now(), exp: now() + 60 })}.`, body: Buffer.from("{}"), type: "application/json" }),
      async () => ({ path: "/global-token-revocation", token: randomBytes(3000).toString("base64url"), body: Buffer.alloc(0), type: "application/json" }),
      async () => ({ path: "/global-token-revocation", token: `${b64({ alg: "HS256", kid: TRUSTED_IDP.kid })}.${b64({ iss: TRUSTED_IDP.issuer })}.${randomBytes(32).toString("base64url")}`, body: Buffer.from("[".repeat(50_000)), type: "application/json" }),
      async () => ({ path: "/ssf/events", token: "", body: Buffer.from(await forged(set, "secevent+jwt")), type: "application/secevent+jwt" }),
      async () => ({ path: "/ssf/events", token: "", body: Buffer.from(`${b64({ alg: "none", typ: "secevent+jwt" })}.${b64({ ...set, iss: TRUSTED_IDP.issuer, jti: "n", iat: now() })}.`), type: "application/secevent+jwt" }),
      async () => ({ path: "/ssf/events", token: "", body: randomBytes(200_000), type: "application/secevent+jwt" }),
      async () => ({ path: "/ssf/events", token: "", body: Buffer.from("{".repeat(60_000)), type: "application/json" }),
    ];
    const { client, close } = grpcClient(SessionControl, ctx.server.port);
    const operationsBefore = (await client.listOperations({ pageSize: 1000 }, { headers: bearer(ctx.server.keys.admin), timeoutMs: 10_000 })).operations.length;
    const attacker = new H1Client(ctx.server.port, attackerAddress(7));
    const statuses = new Map<number, number>();
    const problems = new Set<string>();
    const started = Date.now();
    try {
      await pool(total, CONCURRENCY, async (i) => {
        const f = await kinds[i % kinds.length]!();
        let answer: RawAnswer;
        try {
          answer = await attacker.send({ method: "POST", path: f.path, headers: { "content-type": f.type, ...(f.token && { authorization: `Bearer ${f.token}` }) }, body: f.body });
        } catch (err) {
          // The server may cut a connection whose body it will not read; that is a refusal too.
          if (!/socket hang up|ECONNRESET|EPIPE/.test(String(err))) problems.add(`${f.path}: ${String(err).slice(0, 200)}`);
          return;
        }
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (!REFUSALS.has(answer.status)) problems.add(`${f.path} answered ${answer.status} to a forgery (kind ${i % kinds.length})`);
        const text = answer.body.toString("utf8");
        if (/\bat .+:\d+:\d+|Error:/.test(text)) problems.add(`${f.path}: an answer holds a stack trace or error text: ${text.slice(0, 200)}`);
        if (f.token.length > 20 && text.includes(f.token.slice(-20))) problems.add(`${f.path}: an answer holds the token sent`);
      });
    } finally {
      attacker.close();
    }
    const seconds = (Date.now() - started) / 1000;
    try {
      const operationsAfter = (await client.listOperations({ pageSize: 1000 }, { headers: bearer(ctx.server.keys.admin), timeoutMs: 10_000 })).operations.length;
      if (operationsAfter !== operationsBefore) problems.add(`${operationsAfter - operationsBefore} operations started by forgeries`);
    } finally {
      close();
    }
    if (!statuses.has(429) && total > ctx.limits.failedAuthPerAddress + CONCURRENCY) problems.add(`no 429 in ${total} forgeries (limit ${ctx.limits.failedAuthPerAddress})`);
    return {
      load: `${total} forgeries in ${seconds.toFixed(1)} s`,
      problems: [...problems],
      notes: [`answers: ${JSON.stringify(Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])))}`],
    };
  },
};
