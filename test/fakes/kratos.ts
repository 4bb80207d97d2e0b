import { randomUUID } from "node:crypto";
import { HttpFake, type FakeAnswer, type RecordedRequest } from "./http-fake.js";

/** A session as the admin API lists it (the fields that matter here). */
export interface KratosSession {
  id: string;
  active: boolean;
  identity: { id: string; schema_id: string; state: string };
  authenticated_at: string;
  expires_at: string;
}

/** herodot's error body, as Kratos writes it. */
export function herodot(code: number, status: string, message: string, extra: { id?: string; reason?: string } = {}): { error: Record<string, unknown> } {
  return { error: { code, status, message, ...extra } };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NO_ROWS = () => ({ status: 404, body: herodot(404, "Not Found", "Unable to locate the resource") });

/**
 * Ory Kratos' admin API on 127.0.0.1, port 0, as session/handler.go answers: disableSession
 * (deactivates), deleteIdentitySessions (deletes; 404 when the identity has no session rows) and
 * listIdentitySessions (`active`, pages with a Link header). With `apiKey` set it wants
 * `Authorization: Bearer <key>` as Ory Network does.
 */
export class FakeKratos extends HttpFake {
  readonly sessions: KratosSession[] = [];
  private readonly queue: FakeAnswer[] = [];
  /** Sessions per listed page (Kratos' per_page, capped here to drive paging in tests). */
  pageCap = 1000;

  private constructor(private readonly apiKey: string | undefined) {
    super();
  }

  static start(apiKey?: string): Promise<FakeKratos> {
    return new FakeKratos(apiKey).listen();
  }

  answerOnce(...answers: FakeAnswer[]): void {
    this.queue.push(...answers);
  }

  addSession(identityId: string, active = true, id: string = randomUUID()): KratosSession {
    const s = { id, active, identity: { id: identityId, schema_id: "default", state: "active" }, authenticated_at: new Date().toISOString(), expires_at: new Date(Date.now() + 86_400_000).toISOString() };
    this.sessions.push(s);
    return s;
  }

  reset(): void {
    this.forget();
    this.sessions.length = 0;
    this.queue.length = 0;
    this.pageCap = 1000;
  }

  protected answerTo(r: RecordedRequest): FakeAnswer {
    if (this.apiKey !== undefined && r.headers.authorization !== `Bearer ${this.apiKey}`) {
      return { status: 401, body: herodot(401, "Unauthorized", "The request could not be authorized", { reason: "Access credentials are invalid" }) };
    }
    const queued = this.queue.shift();
    if (queued) return queued;
    const segs = r.path.split("?")[0]!.split("/").slice(1).map(decodeURIComponent);
    const parse = (id: string): FakeAnswer | undefined =>
      UUID.test(id) ? undefined : { status: 400, body: herodot(400, "Bad Request", `uuid: incorrect UUID length ${id.length} in string "${id}"`, { reason: "could not parse UUID" }) };
    if (r.method === "DELETE" && segs.length === 3 && segs[0] === "admin" && segs[1] === "sessions") {
      const bad = parse(segs[2]!);
      if (bad) return bad;
      const s = this.sessions.find((x) => x.id === segs[2]);
      if (!s) return NO_ROWS();
      s.active = false;
      return { status: 204, raw: "" };
    }
    if (segs.length === 4 && segs[0] === "admin" && segs[1] === "identities" && segs[3] === "sessions") {
      const identityId = segs[2]!;
      const bad = parse(identityId);
      if (bad) return bad;
      if (r.method === "DELETE") {
        const before = this.sessions.length;
        for (let i = this.sessions.length - 1; i >= 0; i--) if (this.sessions[i]!.identity.id === identityId) this.sessions.splice(i, 1);
        return before === this.sessions.length ? NO_ROWS() : { status: 204, raw: "" };
      }
      if (r.method === "GET") return this.list(r, identityId);
    }
    return { status: 404, body: herodot(404, "Not Found", "The requested resource could not be found") };
  }

  private list(r: RecordedRequest, identityId: string): FakeAnswer {
    const active = r.query.get("active");
    const perPage = Math.min(this.pageCap, Number(r.query.get("per_page") ?? 250));
    const page = Number(r.query.get("page") ?? 0);
    const all = this.sessions.filter((s) => s.identity.id === identityId && (active === null || String(s.active) === active));
    const slice = all.slice(page * perPage, (page + 1) * perPage);
    const link = (p: number, rel: string) => `</admin/identities/${identityId}/sessions?active=${active ?? ""}&page=${p}&per_page=${perPage}>; rel="${rel}"`;
    const links = [link(0, "first"), ...((page + 1) * perPage < all.length ? [link(page + 1, "next")] : [])];
    return { body: slice, headers: { link: links.join(","), "x-total-count": String(all.length) } };
  }
}
