import { fileURLToPath } from "node:url";

const packagesDir = fileURLToPath(new URL("./packages/", import.meta.url));

/**
 * Resolve `@medfm/*` imports to the packages' sources in tests, so a test never runs against a
 * stale `dist/`. The pack test (packages/cli/src/pack.test.ts) covers the built output.
 */
export const medfmSourceAliases = Object.fromEntries(
  ["data", "models", "metrics", "track", "grid", "cli", "native-backend"].map((name) => [
    `@medfm/${name}`,
    `${packagesDir}${name}/src/index.ts`,
  ]),
);
