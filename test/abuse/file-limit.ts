import { execFileSync, spawnSync } from "node:child_process";

/**
 * The attacks hold thousands of sockets, in this process and in the server it starts (which
 * inherits the limit). When `ulimit -n` is below `needed`, runs this script again under a
 * shell that raises it (up to the hard limit, all an unprivileged user may) and exits with
 * that run's code. Returns the limit this process runs under.
 */
export function ensureFileLimit(needed: number): number {
  const soft = readLimit("-Sn");
  if (soft >= needed || process.env["ABUSE_NOFILE_RAISED"]) return soft;
  const raise = `ulimit -Sn ${needed} 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"; exec "$@"`;
  const r = spawnSync("sh", ["-c", raise, "sh", process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, ABUSE_NOFILE_RAISED: "1" },
  });
  process.exit(r.status ?? 1);
}

function readLimit(flag: string): number {
  const text = execFileSync("sh", ["-c", `ulimit ${flag}`], { encoding: "utf8" }).trim();
  return text === "unlimited" ? Infinity : Number(text);
}
