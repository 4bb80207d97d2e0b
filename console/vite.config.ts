import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/**
 * The operator console: built into dist/console/ (served by the service at /console), or into
 * CONSOLE_OUT_DIR (the browser tests build their own copy). Preact JSX through Oxc, no plugin.
 */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/console/",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: process.env["CONSOLE_OUT_DIR"] ?? fileURLToPath(new URL("../dist/console", import.meta.url)),
    emptyOutDir: true,
    // No inline script or style anywhere: the CSP allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
  },
});
