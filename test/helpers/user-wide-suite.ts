import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { parseConfig } from "../../src/config/load.js";
import { ALL_SESSIONS, type Provider } from "../../src/providers/provider.js";
import { buildProviders } from "../../src/providers/registry.js";
import { classify } from "../../src/status/provider-failure.js";
import type { MappingRow, MappingTable } from "../../src/status/table.js";
import { SqliteStores } from "../../src/store/sqlite.js";
import type { FakeAnswer, RecordedRequest } from "../fakes/http-fake.js";
import type { TokenApiFake } from "../fakes/token-api-fake.js";
import { expectEndedNow } from "./ended-now.js";
import { expectMapped, keepErrorTexts, type MappedFailure } from "./errors.js";
import { bearer, grpcClient, startTestService, type TestService } from "./service.js";
import { TOKEN_LIFE_PROVIDERS, tokenLifeTests } from "./token-life.js";
import { until } from "./wait.js";

/** A fake of a user-wide-only system: a token endpoint, its API, and the users it knows. */
export type UserWideFake = TokenApiFake & { users: Set<string> };

/** One row of the mapping table, driven through the service. */
export interface RowCase<F extends UserWideFake = UserWideFake> extends MappedFailure {
  name: string;
  /** Settings of this case's own provider (a fresh token cache), over the suite's. */
  settings?: Record<string, unknown>;
  /** The user; default a user the fake knows. */
  userId?: string;
  program?: (fake: F) => void;
  /** Sign-out requests the fake must have seen; default 1. */
  signOuts?: number;
  /** RetryInfo's delay, in seconds, when the answer named one. */
  retryAfterSeconds?: number;
}

export interface UserWideSuite<F extends UserWideFake> {
  type: string;
  table: MappingTable;
  /** Starts the fake (once, before every test). */
  start(): Promise<F>;
  /** A provider entry's own settings for `fake` (besides name and type). */
  settings(fake: F): Record<string, unknown>;
  /** The sign-out path of a user id already percent-encoded. */
  signOutPath(encodedUser: string): string;
  /** Secrets that must never show in a log or an error. */
  secrets(): string[];
  /** A secret of ours that an upstream message might echo, to be cut out (none: only the token is tried). */
  echoSecret?(): string;
  rows: RowCase<F>[];
  /** Answers the body as well as the status tells apart (HTTP 2xx that are not success, and the like). */
  bodyCases: [string, FakeAnswer, MappedFailure & { metadata: Record<string, unknown> }][];
  /** More tests of the type itself, with the running suite. */
  more?(ctx: SuiteContext<F>): void;
}

export interface SuiteContext<F extends UserWideFake> {
  fake(): F;
  /** Terminate through the service: `provider` defaults to the type's name. */
  terminate(userId: string, provider?: string, sessionId?: string): ReturnType<Client<typeof SessionControl>["terminate"]>;
  failure(p: Promise<unknown>): Promise<ConnectError>;
}

/** Besides the token-life ones: "t-echo" for echoed secrets, "t-echo-token" for a token endpoint's echo (its cache stays empty). */
const TOKEN_PROVIDERS = [...TOKEN_LIFE_PROVIDERS, "t-echo", "t-echo-token"];

/**
 * The tests every user-wide-only provider type passes (entra, google): every row of its table
 * through a real service, the token's life (issued, cached, shared, refreshed before expiry and
 * once after a 401), ids that could change the path refused with nothing sent, user_id required,
 * every terminate user-wide, and no secret in a log or an error.
 */
export function userWideSuite<F extends UserWideFake>(s: UserWideSuite<F>): SuiteContext<F> {
  let fake: F;
  let svc: TestService;
  let client: Client<typeof SessionControl>;
  const { failure, texts: errorTexts } = keepErrorTexts();
  const T = s.type;

  beforeAll(async () => {
    fake = await s.start();
    // One attempt, and a breaker that never opens here: each answer is seen exactly once.
    const common = { type: T, ...s.settings(fake), max_attempts: 1, breaker_failures: 1000, timeout_ms: 2000 };
    svc = await startTestService({}, {
      providers: [
        { ...common, name: T },
        { ...common, name: `${T}-quick`, timeout_ms: 300 },
        { ...common, name: `${T}-retry`, max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 20 },
        // For the one test of the request shapes: its first call fetches a token.
        { ...common, name: `${T}-shape` },
        ...TOKEN_PROVIDERS.map((name) => ({ ...common, name })),
        ...s.rows.map((c, i) => ({ ...common, ...c.settings, name: `row-${i}` })),
      ],
      default_provider: T,
    });
    client = grpcClient(svc);
  });
  afterAll(async () => {
    await svc.stop();
    await fake.close();
  });
  beforeEach(() => {
    fake.reset();
    fake.users.add("alice@example.com");
  });

  const terminate = (userId: string, provider = T, sessionId = "any") => client.terminate({ sessionId, userId, provider }, { headers: bearer(svc.keys.admin) });
  const signOuts = () => fake.apiRequests.filter((r) => r.method === "POST");
  const ctx: SuiteContext<F> = { fake: () => fake, terminate, failure };

  describe(`${T}: every row of the mapping table`, () => {
    const rowsHit = new Set<MappingRow>();
    /** Checks the failure and notes the row that mapped it, read back from the ErrorInfo. */
    async function expectRow(p: Promise<unknown>, provider: string, c: MappedFailure & { retryAfterSeconds?: number }): Promise<void> {
      const err = await failure(p);
      const info = expectMapped(err, provider, c);
      const m = info.metadata;
      rowsHit.add(classify({ message: m["upstream_message"]!, ...(m["upstream_code"] !== undefined && { code: m["upstream_code"] }), ...(m["upstream_status"] !== undefined && { httpStatus: Number(m["upstream_status"]) }) }, s.table));
      if (c.retryAfterSeconds !== undefined) expect(err.findDetails(RetryInfoSchema)[0]!.retryDelay?.seconds).toBe(BigInt(c.retryAfterSeconds));
    }

    it.each(s.rows.map((c, i) => [c.name, c, i] as const))("%s", async (_name, c, i) => {
      c.program?.(fake);
      const provider = `row-${i}`;
      await expectRow(terminate(c.userId ?? "alice@example.com", provider), provider, c);
      const sent = signOuts();
      expect(sent).toHaveLength(c.signOuts ?? 1);
      // Refreshed once after the first 401, never looping: two different tokens.
      if (c.signOuts === 2) expect(sent[0]!.headers.authorization).not.toBe(sent[1]!.headers.authorization);
    });

    it.each(s.bodyCases)("told by the body: %s", async (_name, answer, expected) => {
      fake.answerApiOnce(answer);
      await expectRow(terminate("alice@example.com"), T, expected);
    });

    it("has a case for each row", () => {
      expect(s.table.filter((r) => !rowsHit.has(r)).map((r) => r.answer)).toEqual([]);
    });
  });

  describe(`${T}: user-wide only`, () => {
    it("ends all of the user's sessions whatever the session id, and refuses options before a request", async () => {
      const before = Date.now();
      expectEndedNow(await terminate("alice@example.com", T, "any-session-id"), T, before);
      expect(signOuts().map((r) => r.path)).toEqual([s.signOutPath(encodeURIComponent("alice@example.com"))]);

      fake.reset();
      const err = await failure(client.terminate({ sessionId: "x", userId: "alice@example.com", provider: T, options: { a: "b" } }, { headers: bearer(svc.keys.admin) }));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(BadRequestSchema)[0]!.fieldViolations[0]!.description).toBe("unknown option for this provider; it takes none");
      expect(fake.requests).toEqual([]);
    });

    it("a caller without session.delete is refused before a request", async () => {
      const err = await failure(client.terminate({ sessionId: "x", userId: "alice@example.com", provider: T }, { headers: bearer(svc.keys.alice) }));
      expect(err.code).toBe(Code.PermissionDenied);
      expect(fake.requests).toEqual([]);
    });

    describe("through the provider itself", () => {
      let dir: string;
      let store: SqliteStores;
      let provider: Provider;
      beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), `${T}-direct-`));
        store = SqliteStores.open(dir);
        const config = parseConfig({ providers: [{ name: `${T}-direct`, type: T, ...s.settings(fake), max_attempts: 1 }] });
        provider = buildProviders(config.providers, store.sessions, () => {})[0]!;
      });
      afterAll(async () => {
        await provider.close?.();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      });
      const signal = () => new AbortController().signal;
      const call = (userId: string, allOfUser?: boolean) => ({
        caller: { name: "test", permissions: new Set(["session.delete"]) } as never,
        sessionId: ALL_SESSIONS,
        userId,
        reason: "",
        requestId: "r",
        options: {},
        signal: signal(),
        ...(allOfUser !== undefined && { allOfUser }),
      });

      it("ends all of a user's sessions in one call, lists the one pseudo-session, and answers allOfUser on every terminate", async () => {
        expect(provider.endsAllOfUser).toBe(true);
        expect(await provider.listUserSessions({ userId: "alice@example.com", signal: signal() })).toEqual({ sessions: [{ sessionId: ALL_SESSIONS, userId: "alice@example.com", active: true }], complete: true });
        expect(fake.requests).toEqual([]);
        for (const allOfUser of [true, false, undefined]) {
          const res = await provider.terminate(call("alice@example.com", allOfUser));
          expect(res.allOfUser).toBe(true);
          expect(res.alreadyTerminated).toBe(false);
          expect(res.sessionsEnded).toBeUndefined();
        }
        expect(signOuts()).toHaveLength(3);
      });
    });
  });

  describe(`${T}: ids never change the upstream path`, () => {
    // An id already percent-encoded would become a "/" or ".." if a proxy and the upstream each decoded it once.
    const refused = ["", ".", "..", "../x", "a/b", "a\\b", "a\u0000b", "line\nbreak", "tab\there", "\u202e", "%2F", "%2e%2e"];
    const kept = ["?q", "#f", "a b", "ünïcødé", "会话", "bob+tag@example.com", "live.com#EXT#@acme.onmicrosoft.com", "x".repeat(200), "00000000-0000-4000-8000-000000000001"];
    it.each(refused.map((id) => [JSON.stringify(id).slice(0, 40), id] as const))("refused: %s", async (_label, id) => {
      const err = await failure(terminate(id));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.findDetails(ErrorInfoSchema)[0]!.reason).toBe(id === "" ? "USER_ID_REQUIRED" : "USER_ID_INVALID");
      expect(fake.requests).toEqual([]);
    });
    it.each(kept.map((id) => [JSON.stringify(id).slice(0, 40), id] as const))("percent-encoded: %s", async (_label, id) => {
      fake.users.add(id);
      await terminate(id);
      expect(signOuts().map((r) => r.path)).toEqual([s.signOutPath(encodeURIComponent(id))]);
    });
  });

  describe(`${T}: the access token`, () => {
    /** `n` sign-outs at once through `provider`. */
    async function signOut(provider: string, n: number): Promise<void> {
      const users = Array.from({ length: n }, (_, i) => `u${i}-${Math.random().toString(36).slice(2)}@example.com`);
      for (const u of users) fake.users.add(u);
      const results = await Promise.all(users.map((u) => terminate(u, provider)));
      for (const r of results) expect(r.alreadyTerminated).toBe(false);
    }
    tokenLifeTests(() => fake, signOut);

    it("a token answer without access_token is malformed, and nothing is sent to the API", async () => {
      fake.answerTokenOnce({ body: { token_type: "Bearer", expires_in: 3600 } });
      const err = await failure(terminate("alice@example.com", "t-echo"));
      expectMapped(err, "t-echo", {
        code: Code.Unknown,
        reason: "UPSTREAM_MALFORMED_ANSWER",
        metadata: { upstream_status: "200", upstream_code: "transport.malformed", upstream_message: "HTTP 200 with a body that is not {access_token, expires_in, token_type}" },
      });
      expect(fake.apiRequests).toHaveLength(0);
    });
  });

  describe(`${T}: faults`, () => {
    it("a connection reset mid-answer is UNAVAILABLE, and the service still serves", async () => {
      await terminate("alice@example.com"); // a cached token first
      fake.answerApiOnce({ body: { value: true, pad: "x".repeat(2000) }, resetMidAnswer: true });
      const err = await failure(terminate("alice@example.com"));
      expect([err.code, err.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.Unavailable, "UPSTREAM_CONNECTION_RESET"]);
      expect((await terminate("alice@example.com")).alreadyTerminated).toBe(false);
    });

    it("an answer slower than the provider's timeout is DEADLINE_EXCEEDED and the request is aborted", async () => {
      await terminate("alice@example.com", `${T}-quick`); // a cached token first
      fake.reset();
      fake.users.add("alice@example.com");
      fake.answerApiOnce({ status: 204, raw: "", delayMs: 1500 });
      const err = await failure(terminate("alice@example.com", `${T}-quick`));
      expect([err.code, err.findDetails(ErrorInfoSchema)[0]!.reason]).toEqual([Code.DeadlineExceeded, "UPSTREAM_TIMEOUT"]);
      await until("the upstream request to be aborted", () => fake.apiRequests[0]?.aborted);
    });

    it("a rate limit is retried (max_attempts) and then succeeds", async () => {
      fake.answerApiOnce({ status: 429, headers: { "retry-after": "0" }, raw: "" });
      const res = await terminate("alice@example.com", `${T}-retry`);
      expect(res.alreadyTerminated).toBe(false);
      expect(signOuts()).toHaveLength(2);
    });
  });

  describe(`${T}: secrets`, () => {
    it("cuts our secrets and the token out of upstream messages that echo them", async () => {
      await terminate("alice@example.com", "t-echo");
      const token = fake.issued.at(-1)!;
      const secret = s.echoSecret?.();
      const echoed = `token ${token}${secret !== undefined ? ` secret ${secret}` : ""}`;
      fake.answerApiOnce({ status: 403, body: { error: { code: "Denied", message: echoed, errors: [{ reason: "Denied" }] } } });
      const err = await failure(terminate("alice@example.com", "t-echo"));
      expect(err.findDetails(ErrorInfoSchema)[0]!.metadata["upstream_message"]).toBe(`token [secret]${secret !== undefined ? " secret [secret]" : ""}`);
    });
  });

  s.more?.(ctx);

  describe(`${T}: logs`, () => {
    it("never show a secret or an access token in the logs or in an error", () => {
      expect(fake.issued.length).toBeGreaterThan(5);
      const texts = [svc.logText(), ...errorTexts];
      for (const secret of [...s.secrets(), ...fake.issued]) {
        for (const text of texts) expect(text).not.toContain(secret);
      }
    });
  });

  return ctx;
}

export type { RecordedRequest };
