import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  // import.meta.url in the CommonJS build (the threaded wasm worker file is found next to the module).
  shims: true,
});
