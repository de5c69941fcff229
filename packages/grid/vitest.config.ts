import { defineConfig } from "vitest/config";
import { medfmSourceAliases } from "../../vitest.shared.ts";

export default defineConfig({
  resolve: { alias: medfmSourceAliases },
  test: {
    include: ["src/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
  },
});
