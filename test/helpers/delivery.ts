import { generateKeyPair, jwtVerify, SignJWT, type CryptoKey, type JWTPayload } from "jose";
import { pino, type Logger } from "pino";
import { Writable } from "node:stream";
import { afterEach } from "vitest";
import { DeliveryWorker, type DeliverySettings } from "../../src/notify/delivery-worker.js";
import type { SetSigner } from "../../src/notify/set-signer.js";
import type { Target } from "../../src/notify/targets.js";
import type { DeliveryState, SessionRevokedNotice } from "../../src/store/outbox-types.js";
import { MemoryOutbox } from "../fakes/memory-outbox.js";

export const ISSUER = "https://sc.example";

/** An ended session as the outbox holds it. */
export function endedSession(over: Partial<SessionRevokedNotice> = {}): SessionRevokedNotice {
  return { kind: "session-revoked", userId: "u-1", sessionId: "s-1", provider: "local", tenant: "org-1", endedAt: Date.parse("2025-01-02T03:04:05.678Z"), initiatingEntity: "admin", reason: "stolen laptop", txn: "req-1", ...over };
}

/** A signer as the service's signing keys provide one (ES256, typ secevent+jwt), and the key that verifies it. */
export async function testSigner(): Promise<{ signer: SetSigner; verify: (token: string, audience: string) => Promise<JWTPayload> }> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const signer = { sign: (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "test-key", typ: "secevent+jwt" }).sign(privateKey as CryptoKey) };
  const verify = async (token: string, audience: string) => (await jwtVerify(token, publicKey, { typ: "secevent+jwt", issuer: ISSUER, audience })).payload;
  return { signer, verify };
}

export interface Observed {
  outcomes: [string, DeliveryState][];
  expired: number;
  /** Every log line the worker wrote. */
  logs: string[];
}

const running: DeliveryWorker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop(0)));
});

/** A started worker over an in-memory outbox, delivering to `targets` (by subscriber id); stopped after the test. */
export function startWorker(targets: Record<string, Target>, signer: SetSigner, settings: Partial<DeliverySettings> = {}) {
  const store = new MemoryOutbox();
  const observed: Observed = { outcomes: [], expired: 0, logs: [] };
  const log: Logger = pino({ level: "debug" }, new Writable({ write: (chunk, _enc, done) => (observed.logs.push(String(chunk)), done()) }));
  const worker = new DeliveryWorker({
    store,
    targets: async (subscriber) => targets[subscriber],
    serves: (subscriber) => subscriber.startsWith("stream:") || subscriber in targets,
    signer,
    issuer: ISSUER,
    settings: { pollMs: 50, leaseMs: 10_000, requestTimeoutMs: 2_000, concurrencyPerReceiver: 2, retryInitialMs: 20, retryMaxMs: 100, misconfiguredRetryMs: 1_000, ...settings },
    observer: { outcome: (receiver, state) => observed.outcomes.push([receiver, state]), expired: (n) => (observed.expired += n) },
    log,
  });
  running.push(worker);
  worker.start();
  return { store, worker, observed };
}
