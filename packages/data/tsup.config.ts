import { defineConfig } from "tsup";

export default defineConfig({
  // The loader's worker threads load sample-worker from beside the bundle (see sample-worker-pool.ts).
  // src/browser.ts is the `browser` export condition: the Node-free part.
  entry: ["src/index.ts", "src/images/sample-worker.ts", "src/browser.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
});
