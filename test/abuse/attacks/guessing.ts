import { randomBytes } from "node:crypto";
import { fromBinary, toJson } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import { SessionService } from "@zitadel/proto/zitadel/session/v2/session_service_pb.js";
import { ErrorInfoSchema, RetryInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { SessionControl } from "../../../gen/sessioncontrol/v1/session_control_pb.js";
import { newApiKey } from "../../../src/auth/admin-key.js";
import { newSessionId } from "../../../src/store/session-id.js";
import { bearer, grpcClient, outcome, pool } from "../clients.js";
import { H1Client } from "../raw-http.js";
import { attackerAddress, type Attack, type AttackContext } from "../attack.js";

const CONCURRENCY = 16;

/** Every audit event, counted through ListEvents with the admin key. */
async function countEvents(ctx: AttackContext): Promise<number> {
  const { client, close } = grpcClient(SessionControl, ctx.server.port);
  try {
    let n = 0;
    let pageToken = "";
    do {
      const page = await client.listEvents({ pageSize: 1000, pageToken }, { headers: bearer(ctx.server.keys.admin), timeoutMs: 10_000 });
      n += page.events.length;
      pageToken = page.nextPageToken;
    } while (pageToken);
    return n;
  } finally {
    close();
  }
}

/** Where RESOURCE_EXHAUSTED first came (completion order), how many others came after it, and whether it carried RetryInfo. */
function limitSeen(codes: string[], errors: (ConnectError | undefined)[]): { first: number; laterOthers: number; retryInfo: boolean } {
  const first = codes.indexOf("RESOURCE_EXHAUSTED");
  return {
    first,
    laterOthers: first < 0 ? 0 : codes.slice(first).filter((c) => c !== "RESOURCE_EXHAUSTED").length,
    retryInfo: first >= 0 && errors[first]!.findDetails(RetryInfoSchema).length > 0,
  };
}

/**
 * RESOURCE_EXHAUSTED must come by the limit (plus the calls in flight), and stay: a run longer
 * than the limit's window may let `limit` more through in each new window.
 */
function limitProblems(what: string, limit: number, seen: ReturnType<typeof limitSeen>, total: number, ms: number, windowMs: number): string[] {
  if (seen.first < 0) return [`no RESOURCE_EXHAUSTED in ${total} ${what} (limit ${limit})`];
  const problems: string[] = [];
  if (seen.first > limit + CONCURRENCY) problems.push(`first RESOURCE_EXHAUSTED only at ${what} #${seen.first + 1} (limit ${limit})`);
  const allowed = CONCURRENCY + limit * Math.floor(ms / windowMs);
  if (seen.laterOthers > allowed) problems.push(`${seen.laterOthers} ${what} after the first RESOURCE_EXHAUSTED were answered otherwise (allowed ${allowed})`);
  if (!seen.retryInfo) problems.push("RESOURCE_EXHAUSTED without google.rpc.RetryInfo");
  return problems;
}

/**
 * 5,000 calls with random API keys from one address: after limits.failed_auth_per_address
 * they must get RESOURCE_EXHAUSTED (with RetryInfo), and none may write an audit row.
 */
export const wrongKeys: Attack = {
  name: "wrong-api-keys",
  what: "Terminate with random API keys from one address",
  async run(ctx) {
    const total = ctx.smoke ? 300 : 5_000;
    const before = await countEvents(ctx);
    const { client, close } = grpcClient(SessionControl, ctx.server.port, attackerAddress(0));
    const codes: string[] = [];
    const errors: (ConnectError | undefined)[] = [];
    const started = Date.now();
    try {
      await pool(total, CONCURRENCY, async () => {
        const o = await outcome(client.terminate({ sessionId: newSessionId(new Date()) }, { headers: bearer(newApiKey()), timeoutMs: 10_000 }));
        codes.push(o.code);
        errors.push(o.error);
      });
    } finally {
      close();
    }
    const seconds = (Date.now() - started) / 1000;
    const after = await countEvents(ctx);
    const seen = limitSeen(codes, errors);
    const problems = limitProblems("wrong keys", ctx.limits.failedAuthPerAddress, seen, total, seconds * 1000, ctx.limits.guessWindowMs);
    if (codes.includes("OK")) problems.push("a random key was accepted");
    if (after !== before) problems.push(`${after - before} audit rows written for unknown callers`);
    return {
      load: `${total} keys in ${seconds.toFixed(1)} s`,
      problems,
      notes: [`answers: ${JSON.stringify(tallyOf(codes))}; first RESOURCE_EXHAUSTED ${seen.first < 0 ? "never" : `at #${seen.first + 1}`}; audit rows ${before} -> ${after}`],
    };
  },
};

/**
 * An answer reduced to what a caller sees, with digits blanked in the message and ErrorInfo,
 * and RetryInfo's delay left out: they may differ by the clock, not by the session.
 */
function shape(o: Awaited<ReturnType<typeof outcome>>): string {
  if (!o.error) return o.code;
  const details = o.error.details.map((d) => {
    const type = "desc" in d ? d.desc.typeName : d.type;
    if (type === "google.rpc.RetryInfo") return "RetryInfo";
    if (type === "google.rpc.ErrorInfo" && !("desc" in d)) return `ErrorInfo:${JSON.stringify(toJson(ErrorInfoSchema, fromBinary(ErrorInfoSchema, d.value))).replace(/\d+/g, "#")}`;
    return `${type}:${"desc" in d ? "" : Buffer.from(d.value).toString("base64")}`;
  });
  return JSON.stringify({ code: o.code, message: o.error.rawMessage.replace(/\d+/g, "#"), details }).slice(0, 400);
}

/**
 * 5,000 Terminate calls with wrong session tokens by a key without session.delete, half on an
 * existing session and half on a missing id, in step: the two must get the same answers, and
 * RESOURCE_EXHAUSTED after limits.wrong_tokens_per_session. The session stays active. Then the
 * same comparison, once each, on Zitadel's DeleteSession and REST, with and without a token.
 */
export const wrongTokens: Attack = {
  name: "wrong-session-tokens",
  what: "Terminate with wrong session tokens on an existing and a missing session id",
  async run(ctx) {
    const total = ctx.smoke ? 400 : 5_000;
    const admin = grpcClient(SessionControl, ctx.server.port);
    const attacker = grpcClient(SessionControl, ctx.server.port, attackerAddress(1));
    const zitadel = grpcClient(SessionService, ctx.server.port, attackerAddress(1));
    const rest = new H1Client(ctx.server.port, attackerAddress(1));
    const asAdmin = { headers: bearer(ctx.server.keys.admin), timeoutMs: 10_000 };
    const asNobody = { headers: bearer(ctx.server.keys.nobody), timeoutMs: 10_000 };
    const problems: string[] = [];
    const codes: string[] = [];
    const errors: (ConnectError | undefined)[] = [];
    const differ = new Set<string>();
    // Distinct answers and how often each came, per id: calls in flight at once may cross the limit in another order.
    const answers = { existing: new Map<string, number>(), missing: new Map<string, number>() };
    const started = Date.now();
    try {
      const existing = (await admin.client.createSession({ userId: "guessed" }, asAdmin)).sessionId;
      const missing = newSessionId(new Date());
      await pool(total / 2, CONCURRENCY / 2, async () => {
        const token = randomBytes(24).toString("base64url");
        const [a, b] = await Promise.all([existing, missing].map((sessionId) => outcome(attacker.client.terminate({ sessionId, sessionToken: token }, asNobody))));
        codes.push(a!.code);
        errors.push(a!.error);
        for (const [map, o] of [[answers.existing, a!], [answers.missing, b!]] as const) map.set(shape(o), (map.get(shape(o)) ?? 0) + 1);
      });
      for (const s of new Set([...answers.existing.keys(), ...answers.missing.keys()])) {
        const [e, m] = [answers.existing.get(s) ?? 0, answers.missing.get(s) ?? 0];
        if (e === 0 || m === 0 || Math.abs(e - m) > CONCURRENCY) differ.add(`Terminate: ${s} came ${e} times for the existing id, ${m} for the missing one`);
      }
      problems.push(...limitProblems("wrong tokens", ctx.limits.wrongTokensPerSession, limitSeen(codes, errors), total / 2, Date.now() - started, ctx.limits.guessWindowMs));
      if (codes.includes("OK")) problems.push("a wrong token ended the session");
      const still = (await admin.client.getSession({ sessionId: existing }, asAdmin)).session;
      if (!still || still.termination) problems.push("the guessed session is no longer active");

      // Every surface, fresh ids: with a wrong token and with none.
      for (const token of ["wrong-token", undefined]) {
        const fresh = (await admin.client.createSession({ userId: "guessed" }, asAdmin)).sessionId;
        const gone = newSessionId(new Date());
        const z = await Promise.all([fresh, gone].map(async (sessionId) => shape(await outcome(zitadel.client.deleteSession({ sessionId, ...(token && { sessionToken: token }) }, asNobody)))));
        if (z[0] !== z[1]) differ.add(`DeleteSession: existing ${z[0]} vs missing ${z[1]}`);
        const r = await Promise.all(
          [fresh, gone].map(async (sessionId) => {
            const a = await rest.send({ method: "DELETE", path: `/v2/sessions/${sessionId}`, headers: { ...bearer(ctx.server.keys.nobody), "content-type": "application/json" }, body: Buffer.from(JSON.stringify(token ? { sessionToken: token } : {})) });
            return `${a.status} ${a.body.toString("utf8").replace(/\d+/g, "#")}`;
          }),
        );
        if (r[0] !== r[1]) differ.add(`REST: existing ${r[0]} vs missing ${r[1]}`);
      }
    } finally {
      admin.close();
      attacker.close();
      zitadel.close();
      rest.close();
    }
    if (differ.size > 0) problems.push(`existing and missing ids answered differently: ${[...differ].slice(0, 4).join("; ")}`);
    return { load: `${total} tokens`, problems, notes: [`answers (existing id): ${JSON.stringify(tallyOf(codes))}`] };
  },
};

function tallyOf(codes: string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const c of codes) t[c] = (t[c] ?? 0) + 1;
  return t;
}
