import { loadConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/log.js";
import { startService } from "../../src/main.js";
import { serveChild } from "./child.js";

/**
 * The service itself, assembled exactly as the CLI does it (`session-control serve --config FILE
 * --port 0`): loadConfig -> createLogger -> startService. Its log lines go to this process's
 * stdout, which the harness points at a file. Argument: the configuration file.
 */
serveChild(async () => {
  const configFile = process.argv[2];
  if (!configFile) throw new Error("usage: service.js CONFIG_FILE");
  const config = loadConfig(configFile, { host: "127.0.0.1", port: 0 });
  const service = await startService(config, createLogger(config.log_level));
  return { port: service.server.port, close: () => service.stop() };
});
