import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { TerminateResponseSchema } from "../../gen/sessioncontrol/v1/session_control_pb.js";
import { sha256Hex } from "../../src/auth/api-keys.js";
import { createStore, RESOURCE_OWNER } from "../data/seed.js";
import { UnaryClient } from "../load/once.js";
import { bearer, PATHS, terminateFrame } from "../load/requests.js";
import { ServerProcess } from "../servers/spawn.js";

/** What the scenarios call needs; the same list every earlier build takes, so overlays of them run too. */
const BENCH_PERMISSIONS = ["session.create", "session.read", "session.delete"];

/** A data directory, a configuration with one API key, and the store file, for one service process. */
export interface ServiceEnv {
  dataDir: string;
  configFile: string;
  logFile: string;
  dbFile: string;
  headers: Record<string, string>;
}

/**
 * Fresh data for the service: an empty store and a config naming one key that holds every
 * permission. `extra` adds to the configuration (providers, store, operations).
 */
export async function prepareService(tmp: string, name: string, logLevel: string, extra: Record<string, unknown> = {}): Promise<ServiceEnv> {
  const dir = join(tmp, name);
  const dataDir = join(dir, "data");
  mkdirSync(dataDir, { recursive: true });
  const key = "sck_" + randomBytes(32).toString("base64url");
  const config = {
    data_dir: dataDir,
    log_level: logLevel,
    api_keys: [{ name: "bench-admin", sha256: sha256Hex(key), permissions: BENCH_PERMISSIONS }],
    ...extra,
  };
  const configFile = join(dir, "config.json");
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  return { dataDir, configFile, logFile: join(dir, "service.log"), dbFile: await createStore(dataDir), headers: bearer(key) };
}

export function startServiceProcess(env: ServiceEnv, nodeFlags: string[], displayName?: string): Promise<ServerProcess> {
  return ServerProcess.start("service", { args: [env.configFile], stdoutFile: env.logFile, nodeFlags, ...(displayName && { displayName }) });
}

/** Ends one session outside the timed runs and checks the answer; returns what is wrong. */
export async function terminateOnce(port: number, env: ServiceEnv, sessionId: string, alreadyTerminated: boolean): Promise<string[]> {
  const client = await UnaryClient.connect(port);
  try {
    const answer = await client.call(PATHS.terminate, terminateFrame(sessionId), env.headers);
    if (answer.status !== "0") return [`Terminate ${sessionId}: grpc-status ${answer.status} ${answer.message}`];
    return terminateProblems(alreadyTerminated)([answer.body]);
  } finally {
    await client.close();
  }
}

/** A check of TerminateResponse messages: ended by the local provider, now or before. */
export function terminateProblems(alreadyTerminated: boolean): (messages: Uint8Array[]) => string[] {
  return (messages) => {
    for (const m of messages) {
      const r = fromBinary(TerminateResponseSchema, m);
      if (r.provider !== "local") return [`TerminateResponse.provider is "${r.provider}", expected "local"`];
      if (r.alreadyTerminated !== alreadyTerminated) return [`TerminateResponse.already_terminated is ${r.alreadyTerminated}, expected ${alreadyTerminated}`];
      if (r.details?.resourceOwner !== RESOURCE_OWNER) return [`TerminateResponse.details.resource_owner is "${r.details?.resourceOwner}"`];
    }
    return [];
  };
}
