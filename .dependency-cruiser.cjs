/**
 * The dependency rules (`npm run deps`, a step of .ci/run). Data flows one way:
 *
 *   server -> api -> sessions -> providers | store | status | auth | config
 *
 * and at the bottom, config (its schema gathers the providers' settings) -> providers -> auth ->
 * store -> status, with providers reading only secret references from config/.
 * No edge goes up, no module imports itself round a circle, the mapping layer (status/) stands
 * alone, the domain speaks no Connect, and only the entry point (cli.ts) starts the composition
 * root (main.ts), which may import anything. Type-only imports count like any other.
 */
const DOMAIN = "^src/(sessions|operations)/";
const BOTTOM = "^src/(providers|store|status|auth|config)/";

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "A module that imports itself round a circle: neither side can be read, tested or changed alone.",
      from: {},
      to: { circular: true },
    },
    {
      name: "bottom-imports-nothing-above",
      severity: "error",
      comment: "providers, store, status, auth and config are the bottom: they import neither the domain, nor api/, nor server/.",
      from: { path: BOTTOM },
      to: { path: "^src/(sessions|operations|api|server)/|^src/(main|cli)\\.ts$" },
    },
    {
      name: "domain-imports-no-edge",
      severity: "error",
      comment: "The domain (src/sessions/) takes plain inputs and gives plain results: it imports neither api/ nor server/.",
      from: { path: DOMAIN },
      to: { path: "^src/(api|server)/|^src/(main|cli)\\.ts$" },
    },
    {
      name: "api-imports-no-server",
      severity: "error",
      comment: "api/ translates messages; the transport (server/) is above it.",
      from: { path: "^src/api/" },
      to: { path: "^src/server/|^src/(main|cli)\\.ts$" },
    },
    {
      name: "status-stands-alone",
      severity: "error",
      comment: "The mapping layer (status/) imports nothing of ours but itself.",
      from: { path: "^src/status/" },
      to: { path: "^src/", pathNot: "^src/status/" },
    },
    {
      name: "domain-speaks-no-connect",
      severity: "error",
      comment: "The domain throws Failure (src/status/failure.ts); one function at the edge makes it a ConnectError.",
      from: { path: "^src/sessions/" },
      to: { path: "^node_modules/@connectrpc/connect" },
    },
    {
      name: "providers-read-only-secrets-of-config",
      severity: "error",
      comment: "config/schema assembles the providers' settings (providers/registry.ts); providers take only secret references from config/.",
      from: { path: "^src/providers/" },
      to: { path: "^src/config/", pathNot: "^src/config/secret\\.ts$" },
    },
    {
      name: "auth-below-providers",
      severity: "error",
      comment: "auth/ (principals, the permission rule, TOTP) is below the providers and the configuration, which use it.",
      from: { path: "^src/auth/" },
      to: { path: "^src/(providers|config)/" },
    },
    {
      name: "store-below-auth",
      severity: "error",
      comment: "store/ keeps data: it imports no provider, no auth and no configuration.",
      from: { path: "^src/store/" },
      to: { path: "^src/(providers|auth|config)/" },
    },
    {
      name: "main-is-the-root",
      severity: "error",
      comment: "main.ts is the composition root: only the entry point (cli.ts) imports it.",
      from: { path: "^src/", pathNot: "^src/cli\\.ts$" },
      to: { path: "^src/main\\.ts$" },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: ["node_modules", "^gen/"] },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
