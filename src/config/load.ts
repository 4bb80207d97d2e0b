import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { configSchema, type Config } from "./schema.js";

/** A configuration mistake: each line names the key and what is wrong with it. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

export interface Overrides {
  host?: string;
  port?: number;
  dataDir?: string;
}

/** Reads the file (YAML or JSON; JSON is YAML), applies command-line overrides, validates. */
export function loadConfig(file: string | undefined, overrides: Overrides = {}): Config {
  return parseConfig(file === undefined ? {} : readConfigFile(file), overrides, file);
}

/** Validates a parsed configuration document; `source` names it in messages. */
export function parseConfig(raw: unknown, overrides: Overrides = {}, source = "configuration"): Config {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError([`${source}: the configuration must be a mapping of keys to values`]);
  }
  const doc: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  const server = doc["server"] ?? {};
  if (typeof server === "object" && server !== null) {
    const flags = Object.entries({ host: overrides.host, port: overrides.port }).filter(([, v]) => v !== undefined);
    doc["server"] = { ...server, ...Object.fromEntries(flags) };
  }
  if (overrides.dataDir !== undefined) doc["data_dir"] = overrides.dataDir;
  const result = configSchema.safeParse(doc);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${keyPath(i.path)}: ${describe(i)}`));
  }
  return result.data;
}

function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError([`${file}: cannot read the configuration file (${(err as NodeJS.ErrnoException).code ?? "error"})`]);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError([`${file}: not valid YAML or JSON: ${(err as Error).message.split("\n")[0]}`]);
  }
}

function keyPath(path: PropertyKey[]): string {
  if (path.length === 0) return "(top level)";
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : (i > 0 ? "." : "") + String(p))).join("");
}

function describe(issue: { code: string; message: string; keys?: string[] }): string {
  if (issue.code === "unrecognized_keys" && issue.keys) return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  return issue.message;
}
