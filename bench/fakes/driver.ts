import { fork, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { jsPath } from "../build.js";
import { FAKE_CREDENTIALS as C, type FakeStats, type FromFakes, type ToFakes, type UpstreamType } from "./protocol.js";

const ASK_TIMEOUT_MS = 15_000;

/** The parent's handle on the fake upstreams' child process (bench/fakes/upstreams.ts). */
export class FakeUpstreams {
  private waiters: ((m: FromFakes) => void)[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly ports: Record<UpstreamType, number>,
    /** The Google service account's JSON key that the Google fake trusts. */
    readonly googleKey: string,
  ) {
    child.on("message", (m: FromFakes) => this.waiters.shift()?.(m));
    child.on("exit", (code) => {
      for (const w of this.waiters.splice(0)) w({ type: "error", message: `fake upstreams exited (code ${code})` });
    });
  }

  static async start(): Promise<FakeUpstreams> {
    // Bare node on transpiled JavaScript, like the servers: no tsx loader in the child.
    const child = fork(jsPath("bench/fakes/upstreams.ts"), [], { execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "advanced" });
    const first = await new Promise<FromFakes>((resolve, reject) => {
      child.once("message", resolve);
      child.once("exit", (code) => reject(new Error(`fake upstreams exited (code ${code}) before they were ready`)));
    });
    child.removeAllListeners("exit");
    if (first.type !== "ready") {
      child.kill();
      throw new Error(`fake upstreams failed to start: ${first.type === "error" ? first.message : first.type}`);
    }
    return new FakeUpstreams(child, first.ports, first.googleKey);
  }

  url(type: UpstreamType): string {
    return `http://127.0.0.1:${this.ports[type]}`;
  }

  /** Every answer of every fake waits this long from now on. */
  async setLatency(ms: number): Promise<void> {
    await this.ask({ cmd: "latency", ms }, "ok");
  }

  /** Gives each user one session in senhasegura's list of remote sessions. */
  async seed(users: string[]): Promise<void> {
    await this.ask({ cmd: "seed", users }, "ok");
  }

  /** Counters since start, and the end requests' own times since the last take. */
  async take(): Promise<Record<UpstreamType, FakeStats>> {
    const m = await this.ask({ cmd: "take" }, "taken");
    if (m.type !== "taken") throw new Error("unreachable");
    return m.stats;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.send({ cmd: "exit" } satisfies ToFakes);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  private ask(m: ToFakes, expected: FromFakes["type"]): Promise<FromFakes> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`fake upstreams did not answer "${m.cmd}" within ${ASK_TIMEOUT_MS / 1000} s`));
      }, ASK_TIMEOUT_MS);
      const waiter = (answer: FromFakes) => {
        clearTimeout(timer);
        if (answer.type === expected) resolve(answer);
        else reject(new Error(`fake upstreams: ${answer.type === "error" ? answer.message : `unexpected answer ${answer.type}`}`));
      };
      this.waiters.push(waiter);
      this.child.send(m);
    });
  }
}

/**
 * The `providers:` entries of the service for the fakes, each named after its type, with
 * the defaults for timeouts, retries, breaker and max_connections (8). The secrets go to files
 * in `dir`, referenced as `file:PATH`.
 */
export function fakeProviderConfig(fakes: FakeUpstreams, dir: string, types: readonly UpstreamType[]): Record<string, unknown>[] {
  const secret = (name: string, value: string) => {
    const file = join(dir, `${name}.secret`);
    writeFileSync(file, value, { mode: 0o600 });
    return `file:${file}`;
  };
  const entries: Record<UpstreamType, Record<string, unknown>> = {
    zitadel: { name: "zitadel", type: "zitadel", base_url: fakes.url("zitadel"), token: secret("zitadel", C.zitadelToken) },
    rocketchat: { name: "rocketchat", type: "rocketchat", base_url: fakes.url("rocketchat"), user_id: C.rocketchatUserId, auth_token: secret("rocketchat", C.rocketchatAuthToken) },
    senhasegura: { name: "senhasegura", type: "senhasegura", base_url: fakes.url("senhasegura"), client_id: C.senhaseguraClientId, client_secret: secret("senhasegura", C.senhaseguraClientSecret) },
    luckymonaco: { name: "luckymonaco", type: "luckymonaco", base_url: fakes.url("luckymonaco"), secure_login: C.luckymonacoSecureLogin, token: secret("luckymonaco", C.luckymonacoToken) },
    keycloak: { name: "keycloak", type: "keycloak", base_url: fakes.url("keycloak"), realm: C.keycloakRealm, client_id: C.keycloakClientId, client_secret: secret("keycloak", C.keycloakClientSecret) },
    kratos: { name: "kratos", type: "kratos", admin_url: fakes.url("kratos") },
    entra: { name: "entra", type: "entra", tenant_id: C.entraTenantId, client_id: C.entraClientId, client_secret: secret("entra", C.entraClientSecret), graph_url: fakes.url("entra"), login_url: fakes.url("entra") },
    google: { name: "google", type: "google", service_account: secret("google", fakes.googleKey), subject: C.googleSubject, base_url: fakes.url("google") },
    okta: { name: "okta", type: "okta", base_url: fakes.url("okta"), token: secret("okta", C.oktaApiToken) },
    auth0: { name: "auth0", type: "auth0", base_url: fakes.url("auth0"), client_id: C.auth0ClientId, client_secret: secret("auth0", C.auth0ClientSecret) },
  };
  return types.map((t) => entries[t]);
}

/** What a fake did between two takes. */
export function fakeDelta(before: FakeStats, after: FakeStats): { connections: number; requests: Record<string, number>; ends: number; duplicates: number; refused: number } {
  const requests: Record<string, number> = {};
  for (const [route, n] of Object.entries(after.requests)) {
    const d = n - (before.requests[route] ?? 0);
    if (d > 0) requests[route] = d;
  }
  return { connections: after.connections - before.connections, requests, ends: after.ends - before.ends, duplicates: after.duplicates - before.duplicates, refused: after.refused - before.refused };
}
