import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { exportJWK, generateKeyPair } from "jose";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serviceNodeFlags } from "../../bench/node-flags.js";
import { newApiKey } from "../../src/auth/admin-key.js";
import { sha256Hex } from "../../src/auth/api-keys.js";
import { PERMISSIONS } from "../../src/auth/principal.js";
import { startChild, type ChildService } from "../helpers/child-service.js";
import type { Limits } from "./limits.js";

const CLI = join(process.cwd(), "src", "cli.ts");

/** The identity provider the server trusts for Global Token Revocation and as a Shared Signals transmitter; attackers do not hold its key. */
export const TRUSTED_IDP = { issuer: "https://idp.abuse.example", kid: "idp-key" };

/** The three callers every attack may use: every permission, session.read only, none. */
export interface Keys {
  admin: string;
  reader: string;
  nobody: string;
}

export interface ServerUnderAttack {
  service: ChildService;
  pid: number;
  port: number;
  baseUrl: string;
  keys: Keys;
  dataDir: string;
  alive(): boolean;
  /** How the process ended, when it did: "exit 1", "SIGABRT", with the last stderr line. */
  death(): string | undefined;
  stop(): Promise<void>;
}

/**
 * The service as the bin starts it (`node <flags of cli.ts's #!> --import tsx src/cli.ts serve
 * --config FILE --port 0`), on 127.0.0.1, with a fresh data dir and three API keys. The
 * config sets the bounds the schema knows to their production defaults, and trusts TRUSTED_IDP
 * (a key made here and thrown away) for Global Token Revocation and the SSF receiver.
 */
export async function startServer(limits: Limits): Promise<ServerUnderAttack> {
  const dir = mkdtempSync(join(tmpdir(), "session-control-abuse-"));
  const dataDir = join(dir, "data");
  const keys: Keys = { admin: newApiKey(), reader: newApiKey(), nobody: newApiKey() };
  const configFile = join(dir, "config.json");
  const jwksFile = join(dir, "idp-jwks.json");
  const { publicKey } = await generateKeyPair("ES256");
  writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: TRUSTED_IDP.kid, alg: "ES256" }] }));
  const config = {
    data_dir: dataDir,
    log_level: "info",
    server: { host: "127.0.0.1", ...limits.known.server },
    ...(Object.keys(limits.known.limits).length > 0 && { limits: limits.known.limits }),
    gtr: { callers: [{ issuer: TRUSTED_IDP.issuer, jwks_file: jwksFile }] },
    ssf: { transmitters: [{ issuer: TRUSTED_IDP.issuer, jwks_file: jwksFile }] },
    api_keys: [
      { name: "admin", sha256: sha256Hex(keys.admin), permissions: [...PERMISSIONS] },
      { name: "reader", sha256: sha256Hex(keys.reader), permissions: ["session.read"] },
      { name: "nobody", sha256: sha256Hex(keys.nobody), permissions: [] },
    ],
  };
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const setup = { dir, dataDir, configFile, key: keys.admin, env: {}, headers: { authorization: `Bearer ${keys.admin}` }, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  const service = await startChild(setup, { nodeFlags: serviceNodeFlags(CLI), keepChars: 64 * 1024 });
  let ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void service.exited.then((e) => (ended = e));
  return {
    service,
    pid: service.child.pid!,
    port: service.port,
    baseUrl: service.baseUrl,
    keys,
    dataDir,
    alive: () => ended === undefined && service.child.exitCode === null,
    death() {
      if (!ended) return undefined;
      const lines = service.stderr().split("\n").filter((l) => /\S/.test(l));
      // V8's own words ("FATAL ERROR: ... JavaScript heap out of memory") rather than the stack under them.
      const last = lines.find((l) => /FATAL ERROR|out of memory/i.test(l)) ?? lines.slice(-2).join(" | ");
      return `${ended.signal ?? `exit ${ended.code}`}${last ? `: ${last.slice(0, 300)}` : ""}`;
    },
    async stop() {
      await service.kill();
      setup.cleanup();
    },
  };
}
