import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTHeaderParameters, type JWTPayload } from "jose";
import { Webhook } from "standardwebhooks";

/** CAEP 1.0 §3.1 and SSF 1.0 §8.1.4: the only event types the service sends. */
export const SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
export const VERIFICATION = "https://schemas.openid.net/secevent/ssf/event-type/verification";

/** How the receiver answers: a status (and JSON body), or holding the request open without answering. */
export type Answer = { status: number; body?: unknown } | "hang";

/** One request as it arrived, before any verification. */
export interface Hit {
  headers: IncomingHttpHeaders;
  body: string;
  /** The SET's jti (read without verifying) or the webhook-id; "" when neither can be read. */
  id: string;
  /** What the receiver answered; undefined while it hangs or if the client went away. */
  status?: number;
}

/** An RFC 9493 subject identifier as the service sends it. */
export interface SubId {
  format: "complex" | "opaque";
  id?: string;
  user?: { format: "opaque"; id: string };
  session?: { format: "opaque"; id: string };
  tenant?: { format: "opaque"; id: string };
}

export interface SessionRevokedEvent {
  event_timestamp: number;
  initiating_entity: "admin" | "user" | "policy" | "system";
  reason_admin?: { en: string };
}

export interface SetClaims extends JWTPayload {
  jti: string;
  iat: number;
  txn: string;
  sub_id: SubId;
  events: Record<string, Record<string, unknown>>;
}

/** A SET that verified against the service's /jwks.json and passed every check, and was answered 2xx. */
export interface ReceivedSet {
  header: JWTHeaderParameters;
  claims: SetClaims;
  authorization?: string;
}

/** Standard Webhooks payload of a session.revoked webhook. */
export interface WebhookBody {
  type: "session.revoked";
  timestamp: string;
  data: {
    user_id: string;
    session_id?: string;
    provider?: string;
    tenant?: string;
    ended_at: string;
    initiating_entity: string;
    reason?: string;
    txn: string;
  };
}

/** A webhook whose signature verified and whose body passed every check, and was answered 2xx. */
export interface ReceivedWebhook {
  id: string;
  body: WebhookBody;
  authorization?: string;
}

/** What an SSF receiver trusts: the issuer (public_url), where its keys are, and its own audience. */
export interface Trust {
  issuer: string;
  jwksUrl: string;
  audience: string;
}

type Kind = { kind: "ssf"; subjectFormat?: "complex" | "opaque" } | { kind: "webhook"; secret: string };

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const ENTITIES = ["admin", "user", "policy", "system"];

/**
 * A receiver of the service's notifications, in the test process: an HTTP/1.1 server on
 * 127.0.0.1 that verifies each SET with `jose` against the service's /jwks.json (or each
 * webhook with `standardwebhooks`), checks its shape, and answers as told. It can be taken
 * down and brought back on the same port. Every request is kept as a raw hit; what verified
 * and was accepted (2xx) is kept in `sets` / `webhooks`; whatever failed a check in `problems`
 * (tests expect it empty).
 */
export class SetReceiver {
  readonly hits: Hit[] = [];
  readonly sets: ReceivedSet[] = [];
  readonly webhooks: ReceivedWebhook[] = [];
  readonly problems: string[] = [];
  /** How to answer the next requests; a function decides per hit. Default: 202 (SSF) / 204 (webhook). */
  answer: Answer | ((hit: Hit) => Answer);
  private trusted: { trust: Trust; jwks: ReturnType<typeof createRemoteJWKSet> } | undefined;
  private readonly server = createServer((req, res) => void this.receive(req, res).catch(() => res.destroy()));
  private readonly sockets = new Set<Socket>();
  private readonly hanging = new Set<ServerResponse>();
  private listening = false;
  port = 0;

  private constructor(private readonly kind: Kind) {
    this.answer = { status: kind.kind === "ssf" ? 202 : 204 };
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
    });
  }

  /** An SSF push receiver (RFC 8935). `subjectFormat`: the sub_id format every session-revoked SET must have (undefined: either). */
  static ssf(subjectFormat?: "complex" | "opaque"): Promise<SetReceiver> {
    return new SetReceiver({ kind: "ssf", ...(subjectFormat && { subjectFormat }) }).up();
  }

  /** A Standard Webhooks receiver with this whsec_ secret. */
  static webhook(secret: string): Promise<SetReceiver> {
    return new SetReceiver({ kind: "webhook", secret }).up();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/events`;
  }

  /** The endpoint's origin: the SET `aud` the service uses when none is configured. */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Whom SETs must come from and be for (set once the service runs, since its URL is known only then; until then SETs get 503). */
  trust(trust: Trust): void {
    this.trusted = { trust, jwks: createRemoteJWKSet(new URL(trust.jwksUrl)) };
  }

  /** Listens (again) on its port; the first time on a new one. */
  async up(): Promise<this> {
    if (this.listening) return this;
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
    this.listening = true;
    return this;
  }

  /** Stops listening and cuts every connection (hanging requests included): the receiver is unreachable. */
  async down(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  close(): Promise<void> {
    return this.down();
  }

  /** Requests held open now (answered "hang", the client still waiting). */
  holding(): number {
    return this.hanging.size;
  }

  /** Raw hits carrying this jti / webhook-id (every attempt, whatever it was answered). */
  hitsOf(id: string): Hit[] {
    return this.hits.filter((h) => h.id === id);
  }

  /** Accepted SETs (or webhooks), counted by jti (webhook-id). */
  acceptedCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    const ids = this.kind.kind === "ssf" ? this.sets.map((s) => s.claims.jti) : this.webhooks.map((w) => w.id);
    for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
    return counts;
  }

  /** Accepted session-revoked SETs, each jti once (a receiver drops duplicates by jti). */
  revoked(): ReceivedSet[] {
    const seen = new Set<string>();
    return this.sets.filter((s) => SESSION_REVOKED in s.claims.events && !seen.has(s.claims.jti) && seen.add(s.claims.jti));
  }

  /** Accepted webhooks, each webhook-id once. */
  uniqueWebhooks(): ReceivedWebhook[] {
    const seen = new Set<string>();
    return this.webhooks.filter((w) => !seen.has(w.id) && seen.add(w.id));
  }

  private async receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const hit: Hit = { headers: req.headers, body, id: this.idOf(req.headers, body) };
    this.hits.push(hit);
    const answer = typeof this.answer === "function" ? this.answer(hit) : this.answer;
    if (answer === "hang") {
      this.hanging.add(res);
      res.on("close", () => this.hanging.delete(res));
      return;
    }
    // Only a request the receiver accepts must be verified; a failed check is answered as RFC 8935 says.
    if (answer.status >= 200 && answer.status < 300) {
      // Not yet told whom to trust (the service's port is not known yet): unavailable, so the service retries.
      if (this.kind.kind === "ssf" && !this.trusted) return this.send(res, hit, { status: 503 });
      const problem = req.method !== "POST" ? `method ${req.method}` : this.kind.kind === "ssf" ? await this.acceptSet(req.headers, body) : this.acceptWebhook(req.headers, body);
      if (problem !== undefined) {
        this.problems.push(problem);
        return this.send(res, hit, { status: 400, body: { err: "invalid_request", description: problem } });
      }
    }
    this.send(res, hit, answer);
  }

  private send(res: ServerResponse, hit: Hit, answer: { status: number; body?: unknown }): void {
    hit.status = answer.status;
    if (answer.body === undefined) {
      res.writeHead(answer.status).end();
      return;
    }
    res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
  }

  private idOf(headers: IncomingHttpHeaders, body: string): string {
    if (this.kind.kind === "webhook") return String(headers["webhook-id"] ?? "");
    try {
      const jti = decodeJwt(body).jti;
      return typeof jti === "string" ? jti : "";
    } catch {
      return "";
    }
  }

  /** Verifies and checks one SET; records it when it passes, else says what is wrong. */
  private async acceptSet(headers: IncomingHttpHeaders, body: string): Promise<string | undefined> {
    if (headers["content-type"] !== "application/secevent+jwt") return `content-type ${headers["content-type"]}`;
    if (!this.trusted) return "the receiver was not told whom to trust";
    const { trust, jwks } = this.trusted;
    let verified;
    try {
      verified = await jwtVerify(body, jwks, { typ: "secevent+jwt", issuer: trust.issuer, audience: trust.audience });
    } catch (err) {
      return `SET did not verify: ${(err as Error).message}`;
    }
    const { protectedHeader: header, payload } = verified;
    const problem = setProblem(header, payload, this.kind.kind === "ssf" ? this.kind.subjectFormat : undefined);
    if (problem !== undefined) return `${problem} in ${JSON.stringify(payload)}`;
    this.sets.push({ header, claims: payload as SetClaims, ...(headers.authorization !== undefined && { authorization: headers.authorization }) });
    return undefined;
  }

  /** Verifies and checks one webhook; records it when it passes, else says what is wrong. */
  private acceptWebhook(headers: IncomingHttpHeaders, body: string): string | undefined {
    if (this.kind.kind !== "webhook") return "not a webhook receiver";
    if (!String(headers["content-type"]).startsWith("application/json")) return `content-type ${headers["content-type"]}`;
    const signed = Object.fromEntries(["webhook-id", "webhook-timestamp", "webhook-signature"].map((h) => [h, String(headers[h] ?? "")]));
    let parsed: unknown;
    try {
      parsed = new Webhook(this.kind.secret).verify(body, signed);
    } catch (err) {
      return `webhook did not verify: ${(err as Error).message}`;
    }
    const problem = webhookProblem(parsed);
    if (problem !== undefined) return `${problem} in ${body}`;
    this.webhooks.push({ id: signed["webhook-id"]!, body: parsed as WebhookBody, ...(headers.authorization !== undefined && { authorization: headers.authorization }) });
    return undefined;
  }
}

const isString = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const isOpaque = (v: unknown): boolean => {
  const o = v as Record<string, unknown> | undefined;
  return typeof o === "object" && o !== null && o["format"] === "opaque" && isString(o["id"]) && Object.keys(o).length === 2;
};

/** What is wrong with a verified SET (RFC 8417, SSF 1.0, CAEP 1.0 as the brief profiles them), or undefined. */
function setProblem(header: JWTHeaderParameters, claims: JWTPayload, subjectFormat: "complex" | "opaque" | undefined): string | undefined {
  if (!isString(header.alg) || !isString(header.kid)) return "header without alg or kid";
  if ("sub" in claims) return "a sub claim";
  if ("exp" in claims) return "an exp claim";
  if (!isString(claims.jti)) return "no jti";
  if (typeof claims.iat !== "number") return "no iat";
  const events = claims["events"] as Record<string, Record<string, unknown>> | undefined;
  if (typeof events !== "object" || events === null || Object.keys(events).length !== 1) return "events not holding exactly one event";
  const subId = claims["sub_id"] as Record<string, unknown> | undefined;
  if (VERIFICATION in events) {
    const v = events[VERIFICATION]!;
    if (Object.keys(v).some((k) => k !== "state")) return "a verification event with members other than state";
    return isOpaque(subId) ? undefined : "a verification event whose sub_id is not opaque";
  }
  const revoked = events[SESSION_REVOKED];
  if (!revoked) return `an event other than session-revoked or verification: ${Object.keys(events)[0]}`;
  if (!isString(claims["txn"])) return "no txn";
  if (!Number.isInteger(revoked["event_timestamp"])) return "event_timestamp not in whole seconds";
  if (!ENTITIES.includes(revoked["initiating_entity"] as string)) return "no valid initiating_entity";
  if (Object.keys(revoked).some((k) => !["event_timestamp", "initiating_entity", "reason_admin"].includes(k))) return "unexpected members in the session-revoked event";
  const reason = revoked["reason_admin"] as Record<string, unknown> | undefined;
  if (reason !== undefined && (Object.keys(reason).join() !== "en" || !isString(reason["en"]))) return "reason_admin not {en: text}";
  return subIdProblem(subId, subjectFormat);
}

function subIdProblem(subId: Record<string, unknown> | undefined, want: "complex" | "opaque" | undefined): string | undefined {
  if (typeof subId !== "object" || subId === null) return "no sub_id";
  if (want !== undefined && subId["format"] !== want) return `sub_id format ${String(subId["format"])}, not ${want}`;
  if (subId["format"] === "opaque") return isOpaque(subId) ? undefined : "a malformed opaque sub_id";
  if (subId["format"] !== "complex") return `sub_id format ${String(subId["format"])}`;
  if (!isOpaque(subId["user"])) return "a complex sub_id without an opaque user";
  for (const [k, v] of Object.entries(subId)) {
    if (k === "format" || k === "user") continue;
    if (!["session", "tenant"].includes(k)) return `a complex sub_id member ${k}`;
    if (!isOpaque(v)) return `a complex sub_id whose ${k} is not opaque`;
  }
  return undefined;
}

/** What is wrong with a verified webhook body, or undefined. */
function webhookProblem(parsed: unknown): string | undefined {
  const b = parsed as Record<string, unknown>;
  if (b["type"] !== "session.revoked") return "type not session.revoked";
  if (!ISO.test(String(b["timestamp"]))) return "timestamp not ISO-8601";
  const d = b["data"] as Record<string, unknown> | undefined;
  if (typeof d !== "object" || d === null) return "no data";
  if (!isString(d["user_id"]) || !isString(d["txn"])) return "data without user_id or txn";
  if (!ISO.test(String(d["ended_at"]))) return "data.ended_at not ISO-8601";
  if (!ENTITIES.includes(d["initiating_entity"] as string)) return "no valid data.initiating_entity";
  return undefined;
}
