import { defineConfig } from "tsup";

export default defineConfig([
  {
    entry: ["src/index.ts"],
    format: ["esm", "cjs"],
    dts: true,
    sourcemap: true,
    clean: true,
    target: "node20",
    // import.meta.url in the CommonJS build (the threaded wasm worker file is found next to the module).
    shims: true,
  },
  {
    // The `browser` export condition: no fs, sharp or native backend, and no Node shims
    // (tsup's import.meta.url shim imports node's path and url, which a browser lacks).
    entry: ["src/browser.ts"],
    format: ["esm"],
    dts: true,
    sourcemap: true,
    clean: false,
    platform: "browser",
    target: "es2022",
  },
]);
