// Builds the model viewer that `medfm serve` and `medfm export-web` ship (packages/cli/dist/viewer).
// @medfm/models and @medfm/data are bundled from their browser entries' sources, and tfjs's wasm
// binaries are copied beside the bundle so the wasm backend finds them with no CDN.
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const here = dirname(fileURLToPath(import.meta.url));
const packages = join(here, "..", "..");
const outDir = process.env.MEDFM_VIEWER_OUT ?? join(here, "..", "dist", "viewer");

function copyWasmBinaries(): Plugin {
  return {
    name: "medfm-copy-tfjs-wasm",
    apply: "build",
    writeBundle() {
      const require = createRequire(join(here, "..", "package.json"));
      const wasmDist = dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"));
      const from = join(wasmDist, "dist");
      const to = join(outDir, "tfjs-wasm");
      mkdirSync(to, { recursive: true });
      for (const file of readdirSync(from).filter((name) => name.endsWith(".wasm"))) {
        copyFileSync(join(from, file), join(to, file));
      }
    },
  };
}

export default defineConfig({
  root: here,
  base: "./",
  logLevel: "warn",
  resolve: {
    alias: {
      "@medfm/models": join(packages, "models", "src", "browser.ts"),
      "@medfm/data": join(packages, "data", "src", "browser.ts"),
      "@medfm/native-backend": join(packages, "native-backend", "src", "browser.ts"),
    },
    dedupe: ["@tensorflow/tfjs", "@tensorflow/tfjs-core"],
  },
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 8000,
    reportCompressedSize: false,
  },
  plugins: [copyWasmBinaries()],
});
