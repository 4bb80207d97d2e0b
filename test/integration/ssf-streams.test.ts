import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropSchema, freshSchema, postgresSkipReason, storeUrl, withClient } from "../helpers/postgres.js";
import { bearer, startTestService, type TestService } from "../helpers/service.js";

const postgresSkip = await postgresSkipReason();
const SESSION_REVOKED = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const PUSH = "urn:ietf:rfc:8935";
/** The receiver's credential for its endpoint: never answered, never logged. */
const RECEIVER_SECRET = "Bearer rx-secret-3f9a1c";

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** Each store: its configuration, and whether a stream is addressed by session-revoked notices (wants_session_revoked). */
const STORES = [
  {
    name: "sqlite",
    skip: undefined,
    extra: async () => ({}),
    wants: async (svc: TestService, id: string) => {
      const db = new Database(join(svc.dataDir, "sessions.db"), { readonly: true });
      try {
        return (db.prepare("SELECT wants_session_revoked AS w FROM ssf_streams WHERE stream_id = ?").get(id) as { w: number }).w === 1;
      } finally {
        db.close();
      }
    },
    cleanup: async () => undefined,
  },
  {
    name: "postgres",
    skip: postgresSkip,
    extra: async (schema: string) => {
      await withClient((c) => c.query(`CREATE SCHEMA ${schema}`));
      return { store: storeUrl(schema) };
    },
    wants: (_svc: TestService, id: string, schema?: string) =>
      withClient(async (c) => (await c.query<{ w: boolean }>("SELECT wants_session_revoked AS w FROM ssf_streams WHERE stream_id = $1", [id])).rows[0]!.w, schema),
    cleanup: dropSchema,
  },
];

describe.each(STORES)("SSF stream management ($name)", ({ skip, extra, wants, cleanup }) => {
  let svc: TestService;
  const schema = freshSchema();
  beforeAll(async () => {
    if (skip === undefined) svc = await startTestService({}, await extra(schema));
  });
  afterAll(async () => {
    await svc?.stop();
    if (skip === undefined) await cleanup(schema);
  });

  /** A call as a receiver makes it: JSON body, the `ssf` key unless told otherwise (null: none). */
  async function call(method: string, path: string, body?: unknown, key: string | null = svc.keys.ssf): Promise<Answer> {
    const headers: Record<string, string> = key === null ? {} : bearer(key);
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${svc.baseUrl}${path}`, { method, headers, ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: text === "" ? undefined : JSON.parse(text) };
  }

  const issuer = () => `http://127.0.0.1:${svc.port}`;
  const create = (body: Record<string, unknown> = {}) =>
    call("POST", "/ssf/stream", { delivery: { method: PUSH, endpoint_url: "https://rx.example:8443/events", authorization_header: RECEIVER_SECRET }, events_requested: [SESSION_REVOKED, "urn:example:unknown"], ...body });
  const errorOf = (a: Answer) => [a.status, (a.json as { err: string }).err];

  it.skipIf(skip !== undefined)("POST creates a stream: 201 with its configuration; GET reads it and lists every stream", async () => {
    const created = await create({ description: "receiver A", stream_id: "mine", iss: "ignored on create", extra_field: 1 });
    expect(created.status).toBe(201);
    expect(created.headers.get("content-type")).toBe("application/json");
    expect(created.headers.get("cache-control")).toBe("no-store");
    const stream = created.json as Record<string, unknown>;
    expect(stream["stream_id"]).toMatch(/^[0-9a-f]{32}$/);
    expect(stream).toEqual({
      stream_id: stream["stream_id"],
      iss: issuer(),
      aud: "https://rx.example:8443",
      delivery: { method: PUSH, endpoint_url: "https://rx.example:8443/events" },
      events_supported: [SESSION_REVOKED],
      events_requested: [SESSION_REVOKED, "urn:example:unknown"],
      events_delivered: [SESSION_REVOKED],
      min_verification_interval: 30,
      description: "receiver A",
    });
    const id = stream["stream_id"] as string;
    const read = await call("GET", `/ssf/stream?stream_id=${id}`);
    expect([read.status, read.json]).toEqual([200, stream]);
    const list = await call("GET", "/ssf/stream");
    expect(list.status).toBe(200);
    expect(list.json).toContainEqual(stream);
    // Nothing answers or logs the receiver's authorization_header.
    expect(created.text + read.text + list.text + svc.logText()).not.toContain("rx-secret");
  });

  it.skipIf(skip !== undefined)("PATCH changes only what it names; PUT replaces the receiver's values; Transmitter-Supplied values must match", async () => {
    const id = ((await create({ description: "before" })).json as { stream_id: string }).stream_id;
    expect(await wants(svc, id, schema)).toBe(true);
    const patched = await call("PATCH", "/ssf/stream", { stream_id: id, description: "after", iss: issuer(), aud: ["https://rx.example:8443"], events_delivered: [SESSION_REVOKED] });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ stream_id: id, description: "after", events_delivered: [SESSION_REVOKED], delivery: { endpoint_url: "https://rx.example:8443/events" } });
    const wrong = await call("PATCH", "/ssf/stream", { stream_id: id, events_delivered: [], aud: "https://other.example" });
    expect(errorOf(wrong)).toEqual([400, "INVALID_ARGUMENT"]);
    expect((wrong.json as { description: string }).description).toBe(
      "aud: is set by the transmitter: leave it out or send the stream's value; events_delivered: is set by the transmitter: leave it out or send the stream's value",
    );

    const replaced = await call("PUT", "/ssf/stream", { stream_id: id, delivery: { method: PUSH, endpoint_url: "http://rx2.example/set" }, events_requested: ["urn:example:other"] });
    expect(replaced.status).toBe(200);
    // The audience stays what it was made with (SSF: aud cannot be updated); the description is gone.
    expect(replaced.json).toEqual({
      stream_id: id,
      iss: issuer(),
      aud: "https://rx.example:8443",
      delivery: { method: PUSH, endpoint_url: "http://rx2.example/set" },
      events_supported: [SESSION_REVOKED],
      events_requested: ["urn:example:other"],
      events_delivered: [],
      min_verification_interval: 30,
    });
    expect(await wants(svc, id, schema)).toBe(false);
    expect(errorOf(await call("PUT", "/ssf/stream", { stream_id: id, description: "no delivery" }))).toEqual([400, "INVALID_ARGUMENT"]);
    expect(errorOf(await call("PATCH", "/ssf/stream", { description: "whose?" }))).toEqual([400, "INVALID_ARGUMENT"]);
    expect(errorOf(await call("PATCH", "/ssf/stream", { stream_id: "missing", description: "x" }))).toEqual([404, "STREAM_NOT_FOUND"]);
  });

  it.skipIf(skip !== undefined)("refuses what it cannot serve: poll or no delivery, non-http endpoints, credentials in the URL, a header value with a line break", async () => {
    const cases: [unknown, string][] = [
      [{ events_requested: [SESSION_REVOKED] }, "delivery: required: only push delivery (urn:ietf:rfc:8935) is supported"],
      [{ delivery: { method: "urn:ietf:rfc:8936" } }, "delivery.method: only push delivery (urn:ietf:rfc:8935) is supported; delivery.endpoint_url: must be an http or https URL"],
      [{ delivery: { method: PUSH, endpoint_url: "ftp://rx.example/x" } }, "delivery.endpoint_url: must be an http or https URL"],
      [{ delivery: { method: PUSH, endpoint_url: "https://u:p@rx.example/x" } }, "delivery.endpoint_url: must hold no credentials: send them as delivery.authorization_header"],
      [{ delivery: { method: PUSH, endpoint_url: "https://rx.example/x", authorization_header: "Bearer rx-secret\r\nX-Evil: 1" } }, "delivery.authorization_header: must be an HTTP header value (visible ASCII, spaces and tabs)"],
      [{ delivery: { method: PUSH, endpoint_url: "https://rx.example/x" }, events_requested: "all", description: 7 }, "events_requested: must be an array of event type URIs; description: must be a string"],
      [[1, 2], "body: must be a JSON object"],
    ];
    for (const [body, description] of cases) {
      const answer = await call("POST", "/ssf/stream", body);
      expect([answer.status, answer.json]).toEqual([400, { err: "INVALID_ARGUMENT", description }]);
    }
    expect(errorOf(await call("POST", "/ssf/stream", "{not json"))).toEqual([400, "INVALID_ARGUMENT"]);
    expect(errorOf(await call("POST", "/ssf/stream", JSON.stringify({ description: "x".repeat(70 * 1024) })))).toEqual([413, "MESSAGE_TOO_LARGE"]);
  });

  it.skipIf(skip !== undefined)("status: GET and POST (enabled, paused, disabled) with a reason; verification; DELETE is 204, then 404", async () => {
    const id = ((await create()).json as { stream_id: string }).stream_id;
    expect(await call("GET", `/ssf/status?stream_id=${id}`).then((a) => [a.status, a.json])).toEqual([200, { stream_id: id, status: "enabled" }]);
    const paused = await call("POST", "/ssf/status", { stream_id: id, status: "paused", reason: "maintenance" });
    expect([paused.status, paused.json]).toEqual([200, { stream_id: id, status: "paused", reason: "maintenance" }]);
    expect((await call("GET", `/ssf/status?stream_id=${id}`)).json).toEqual({ stream_id: id, status: "paused", reason: "maintenance" });
    expect(errorOf(await call("POST", "/ssf/status", { stream_id: id, status: "stopped" }))).toEqual([400, "INVALID_ARGUMENT"]);
    expect(errorOf(await call("POST", "/ssf/status", { stream_id: "missing", status: "paused" }))).toEqual([404, "STREAM_NOT_FOUND"]);
    expect(errorOf(await call("GET", "/ssf/status"))).toEqual([400, "INVALID_ARGUMENT"]);
    expect(errorOf(await call("GET", "/ssf/status?stream_id=missing"))).toEqual([404, "STREAM_NOT_FOUND"]);

    expect(errorOf(await call("POST", "/ssf/verify", { stream_id: "missing", state: "s" }))).toEqual([404, "STREAM_NOT_FOUND"]);
    expect(errorOf(await call("POST", "/ssf/verify", { stream_id: id, state: 5 }))).toEqual([400, "INVALID_ARGUMENT"]);
    expect((await call("POST", "/ssf/verify", { stream_id: id, state: "s" })).status).toBe(204);
    // One verification event per min_verification_interval: the next is 429, with when to retry.
    const again = await call("POST", "/ssf/verify", { stream_id: id, state: "t" });
    expect(errorOf(again)).toEqual([429, "VERIFICATION_TOO_FREQUENT"]);
    expect(Number(again.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(again.headers.get("retry-after"))).toBeLessThanOrEqual(30);
    await call("POST", "/ssf/status", { stream_id: id, status: "disabled" });
    expect(errorOf(await call("POST", "/ssf/verify", { stream_id: id, state: "s" }))).toEqual([409, "STREAM_DISABLED"]);

    expect(errorOf(await call("DELETE", "/ssf/stream"))).toEqual([400, "INVALID_ARGUMENT"]);
    const deleted = await call("DELETE", `/ssf/stream?stream_id=${id}`);
    expect([deleted.status, deleted.text]).toEqual([204, ""]);
    expect(errorOf(await call("DELETE", `/ssf/stream?stream_id=${id}`))).toEqual([404, "STREAM_NOT_FOUND"]);
    expect(errorOf(await call("GET", `/ssf/stream?stream_id=${id}`))).toEqual([404, "STREAM_NOT_FOUND"]);
  });

  it.skipIf(skip !== undefined)("every management call needs a key (401) holding ssf.manage (403); a method a path does not take is 405", async () => {
    const calls: [string, string, unknown?][] = [
      ["POST", "/ssf/stream", { delivery: { method: PUSH, endpoint_url: "https://rx.example/x" } }],
      ["GET", "/ssf/stream"],
      ["PATCH", "/ssf/stream", { stream_id: "x" }],
      ["PUT", "/ssf/stream", { stream_id: "x" }],
      ["DELETE", "/ssf/stream?stream_id=x"],
      ["GET", "/ssf/status?stream_id=x"],
      ["POST", "/ssf/status", { stream_id: "x", status: "paused" }],
      ["POST", "/ssf/verify", { stream_id: "x" }],
    ];
    for (const [method, path, body] of calls) {
      const none = await call(method, path, body, null);
      expect([method, path, ...errorOf(none), none.headers.get("www-authenticate")]).toEqual([method, path, 401, "API_KEY_INVALID", 'Bearer realm="ssf"']);
      expect([method, path, ...errorOf(await call(method, path, body, "not-a-key"))]).toEqual([method, path, 401, "API_KEY_INVALID"]);
      const admin = await call(method, path, body, svc.keys.admin);
      expect([method, path, ...errorOf(admin)]).toEqual([method, path, 403, "PERMISSION_DENIED"]);
      expect((admin.json as { description: string }).description).toBe("this call needs the ssf.manage permission");
    }
    // Its body is never read: one over the size limit is still refused for the permission, not its size.
    const large = await call("POST", "/ssf/stream", JSON.stringify({ description: "x".repeat(70 * 1024) }), svc.keys.admin);
    expect(errorOf(large)).toEqual([403, "PERMISSION_DENIED"]);
    const wrongMethod = await call("PATCH", "/ssf/status", {}, null);
    expect([wrongMethod.status, wrongMethod.headers.get("allow")]).toEqual([405, "GET, POST"]);
  });

  it.skipIf(skip !== undefined)("keeps at most 100 streams: the next POST is 409 until one is deleted", async () => {
    const existing = ((await call("GET", "/ssf/stream")).json as { stream_id: string }[]).length;
    for (let i = existing; i < 100; i++) expect((await create()).status).toBe(201);
    const refused = await create();
    expect([refused.status, refused.json]).toEqual([409, { err: "TOO_MANY_STREAMS", description: "there are 100 streams already, the most kept: delete one first" }]);
    const all = (await call("GET", "/ssf/stream")).json as { stream_id: string }[];
    expect(all).toHaveLength(100);
    expect((await call("DELETE", `/ssf/stream?stream_id=${all[0]!.stream_id}`)).status).toBe(204);
    expect((await create()).status).toBe(201);
  });
});
