/**
 * The dependency rules (`npm run deps`, a step of .ci/run). Data flows one way:
 *
 *   server -> api -> sessions -> notify | providers | store | status | auth | config
 *
 * notify/ (SETs, webhooks, signing keys, delivery, SSF streams) is at the domain's level: it
 * uses store/, status/, auth/ and only the secret references of config/.
 * and at the bottom, config (its schema gathers the providers' settings) -> providers -> auth ->
 * store -> status, with providers reading only secret references from config/.
 *
 * No edge goes up, no module imports itself round a circle, the mapping layer (status/) stands
 * alone, the domain speaks no Connect, and only the entry point (cli.ts) starts the composition
 * root (main.ts), which may import anything. Type-only imports count like any other.
 */
const DOMAIN = "^src/sessions/";
const BOTTOM = "^src/(providers|store|status|auth|config)/";
const ROOT = "^src/(main|cli)\\.ts$";

/** An import that must not be: from modules matching `from` to modules matching `to`. */
function forbid(name, comment, from, to) {
  return { name, severity: "error", comment, from, to };
}

module.exports = {
  forbidden: [
    forbid("no-circular", "A module that imports itself round a circle: neither side can be read, tested or changed alone.", {}, { circular: true }),
    forbid(
      "bottom-imports-nothing-above",
      "providers, store, status, auth and config are the bottom: they import neither the domain, nor api/, nor server/.",
      { path: BOTTOM },
      { path: [`^src/(sessions|notify|api|server)/`, ROOT] },
    ),
    forbid(
      "domain-imports-no-edge",
      "The domain (src/sessions/) takes plain inputs and gives plain results: it imports neither api/ nor server/.",
      { path: DOMAIN },
      { path: ["^src/(api|server)/", ROOT] },
    ),
    forbid(
      "notify-imports-no-edge",
      "notify/ is at the domain's level: it imports neither the domain above it (sessions/), nor the providers, api/, server/ or main.ts, and speaks no Connect.",
      { path: "^src/notify/" },
      { path: ["^src/(sessions|providers|api|server)/", ROOT, "(^|/)node_modules/@connectrpc/"] },
    ),
    forbid(
      "notify-reads-only-secrets-of-config",
      "notify/ takes its settings as plain values from main.ts; of config/ it uses only secret references.",
      { path: "^src/notify/" },
      { path: "^src/config/", pathNot: "^src/config/secret\\.ts$" },
    ),
    forbid("api-imports-no-server", "api/ translates messages; the transport (server/) is above it.", { path: "^src/api/" }, { path: ["^src/server/", ROOT] }),
    forbid("status-stands-alone", "The mapping layer (status/) imports nothing of ours but itself.", { path: "^src/status/" }, { path: "^src/", pathNot: "^src/status/" }),
    forbid(
      "domain-speaks-no-connect",
      "The domain throws Failure (src/status/failure.ts); one function at the edge makes it a ConnectError.",
      { path: "^src/(sessions|notify)/" },
      { path: "^node_modules/@connectrpc/connect" },
    ),
    forbid(
      "providers-read-only-secrets-of-config",
      "config/schema gathers the providers' settings (providers/registry.ts); providers take only secret references from config/.",
      { path: "^src/providers/" },
      { path: "^src/config/", pathNot: "^src/config/secret\\.ts$" },
    ),
    forbid("auth-below-providers", "auth/ (principals, the permission rule, TOTP) is below the providers and the configuration, which use it.", { path: "^src/auth/" }, { path: "^src/(providers|config)/" }),
    forbid("store-below-auth", "store/ keeps data: it imports no provider, no auth and no configuration.", { path: "^src/store/" }, { path: "^src/(providers|auth|config)/" }),
    forbid(
      "console-is-a-client",
      "The operator console (console/) is a browser client of the API: it uses the generated types in gen/ and its packages, never the service's code.",
      { path: "^console/" },
      { path: "^(src|test|bench)/" },
    ),
    forbid(
      "service-imports-no-console",
      "The service serves the console's build as files; it imports none of its code.",
      { path: "^src/" },
      { path: "^console/" },
    ),
    forbid("main-is-the-root", "main.ts is the composition root: only the entry point (cli.ts) imports it.", { path: "^src/", pathNot: "^src/cli\\.ts$" }, { path: "^src/main\\.ts$" }),
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: ["node_modules", "^gen/"] },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
