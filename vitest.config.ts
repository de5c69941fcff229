import { defineConfig } from "vitest/config";
import { medfmSourceAliases } from "./vitest.shared.ts";

export default defineConfig({
  resolve: { alias: medfmSourceAliases },
  test: {
    include: ["packages/*/src/**/*.test.ts", "examples/**/*.test.ts", "scripts/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
  },
});
