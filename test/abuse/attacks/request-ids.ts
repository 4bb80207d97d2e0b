import { createHash, randomUUID } from "node:crypto";
import { SessionControl } from "../../../gen/sessioncontrol/v1/session_control_pb.js";
import { bearer, grpcClient, outcome, pool } from "../clients.js";
import { attackerAddress, sleep, type Attack } from "../attack.js";

/**
 * The request id TerminateUser used for one session's Terminate before issue 8: SHA-256 of
 * public values (operation id, provider, session id) in a UUID layout. An attacker computes
 * it from the source; the service must key its ids with a secret so that this guess misses.
 */
function publicWorkRequestId(operationId: string, provider: string, sessionId: string): string {
  const h = createHash("sha256").update(`${operationId}\0${provider}\0${sessionId}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return [x.slice(0, 8), x.slice(8, 12), x.slice(12, 16), x.slice(16, 20), x.slice(20)].join("-");
}

/**
 * Point 2 of issue 8. Cross-principal replay: keys without session.delete resend the admin's
 * request id and must learn nothing. Poisoning: an id first used with a wrong token must not
 * stop the admin's later Terminate with it. Derived ids: a session.read key races
 * TerminateUser, recording the ids it would derive for each session; every session must end.
 */
export const requestIds: Attack = {
  name: "request-id-attacks",
  what: "cross-principal replay, poisoned ids, pre-recorded TerminateUser work ids",
  async run(ctx) {
    const { keys } = ctx.server;
    const admin = grpcClient(SessionControl, ctx.server.port);
    const attacker = grpcClient(SessionControl, ctx.server.port, attackerAddress(2));
    const as = (key: string, timeoutMs = 10_000) => ({ headers: bearer(key), timeoutMs });
    const problems: string[] = [];
    const notes: string[] = [];
    const active = async (sessionId: string) => !(await admin.client.getSession({ sessionId }, as(keys.admin))).session?.termination;
    try {
      // Replay across principals.
      const replayed = (await admin.client.createSession({ userId: "replayed", resourceOwner: "org-secret" }, as(keys.admin))).sessionId;
      const requestId = randomUUID();
      await admin.client.terminate({ sessionId: replayed, requestId }, as(keys.admin));
      for (const [name, key] of [["no-permission key", keys.nobody], ["session.read key", keys.reader]] as const) {
        const o = await outcome(attacker.client.terminate({ sessionId: replayed, requestId }, as(key)));
        if (o.code === "OK") problems.push(`${name} replaying the admin's request id got the admin's answer`);
        else if (o.error?.rawMessage.includes("org-secret")) problems.push(`${name}'s refusal names the resource owner`);
      }

      // Poisoned ids: first used with a wrong token (by another key, then by the admin itself).
      for (const [name, key] of [["no-permission key", keys.nobody], ["admin", keys.admin]] as const) {
        const sessionId = (await admin.client.createSession({ userId: "poisoned" }, as(keys.admin))).sessionId;
        const poisoned = randomUUID();
        await outcome(attacker.client.terminate({ sessionId, sessionToken: "wrong", requestId: poisoned }, as(key)));
        const o = await outcome(admin.client.terminate({ sessionId, requestId: poisoned }, as(keys.admin)));
        if (o.code !== "OK" || (await active(sessionId))) problems.push(`an id first used with a wrong token by the ${name} blocked the admin's Terminate (${o.code})`);
      }

      // Derived ids: race TerminateUser with the ids it would use.
      const user = "everywhere";
      const count = ctx.smoke ? 300 : 3_000;
      const sessions: string[] = [];
      await pool(count, 32, async () => {
        sessions.push((await admin.client.createSession({ userId: user }, as(keys.admin))).sessionId);
      });
      let recorded = 0;
      let watching = true;
      const race = (async () => {
        while (watching) {
          let id: string | undefined;
          try {
            id = (await attacker.client.listOperations({ userId: user, pageSize: 1 }, as(keys.reader))).operations[0]?.id;
          } catch {
            // refused: ask again
          }
          if (!id) continue;
          // Last sessions first: the operation works from the first, so these are ahead of it.
          await pool(sessions.length, 64, async (i) => {
            const sessionId = sessions[sessions.length - 1 - i]!;
            await outcome(attacker.client.terminate({ sessionId, requestId: publicWorkRequestId(id, "local", sessionId) }, as(keys.reader)));
            recorded++;
          });
          return;
        }
      })();
      const op = await admin.client.terminateUser({ userId: user, reason: "abuse suite" }, as(keys.admin, 60_000));
      watching = false;
      await race;
      const opId = op.operation!.id;
      for (let done = op.operation!.done, until = Date.now() + 60_000; !done && Date.now() < until; ) {
        await sleep(250);
        done = (await admin.client.getOperation({ id: opId }, as(keys.admin))).operation!.done;
      }
      let stillActive = 0;
      await pool(sessions.length, 32, async (i) => {
        if (await active(sessions[i]!)) stillActive++;
      });
      if (stillActive > 0) problems.push(`${stillActive} of ${count} sessions still active after TerminateUser (the attacker pre-recorded ${recorded} derived ids)`);
      notes.push(`TerminateUser of ${count} sessions raced by ${recorded} Terminate calls with derived ids; ${stillActive} left active`);
      return { load: `2 replays + 2 poisoned ids + ${count} sessions`, problems, notes };
    } finally {
      admin.close();
      attacker.close();
    }
  },
};
