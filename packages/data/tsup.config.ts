import { defineConfig } from "tsup";

export default defineConfig({
  // The loader's worker threads load sample-worker from beside the bundle (see sample-worker-pool.ts).
  entry: ["src/index.ts", "src/images/sample-worker.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
});
