#!/usr/bin/env -S node --max-semi-space-size=8 --max-old-space-size=96
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config/load.js";
import { createLogger } from "./log.js";
import { startService } from "./main.js";

const USAGE = `usage: session-control serve [--config FILE] [--host HOST] [--port PORT] [--data-dir DIR]`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        "data-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    console.error(`session-control: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== "serve") {
    console.error(`session-control: expected the command "serve"\n${USAGE}`);
    return 2;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    console.error(`session-control: --port: must be a whole number from 0 to 65535`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(values.config, {
      ...(values.host !== undefined ? { host: values.host } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(values["data-dir"] !== undefined ? { dataDir: values["data-dir"] } : {}),
    });
  } catch (err) {
    return configMistake(err);
  }
  const log = createLogger(config.log_level);
  // Listened for before the start: "serving" is logged inside it, and a signal sent on that line must stop the service, not kill it.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  let service;
  try {
    service = await startService(config, log);
  } catch (err) {
    // e.g. an unusable data_dir, found only when the service starts to use it.
    return configMistake(err);
  }
  await stopSignal.then((signal) => log.info({ signal }, "shutting down"));
  await service.stop();
  log.info("stopped");
  await new Promise<void>((resolve) => log.flush(() => resolve()));
  return 0;
}

/** Prints a configuration mistake, one line per problem, and gives the exit code; rethrows anything else. */
function configMistake(err: unknown): number {
  if (!(err instanceof ConfigError)) throw err;
  for (const line of err.problems) console.error(`session-control: config: ${line}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`session-control: ${(err as Error).message}`);
    process.exit(1);
  },
);
