import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/bin.ts", "src/browser.ts"],
  format: ["esm", "cjs"],
  dts: { entry: ["src/index.ts", "src/browser.ts"] },
  sourcemap: true,
  clean: true,
  target: "node20",
  // import.meta.url in the CommonJS build: the installer reads assets/ next to dist/.
  shims: true,
});
