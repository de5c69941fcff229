import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const repositoryRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/**
 * Test support: the tfjs-node package built by `pnpm medfm backend install` in this checkout
 * (or `MEDFM_TFJS_NODE_PATH`), when it exists. Tests add the `tensorflow` backend to the ones
 * they cover when it does, so CI (which provisions it) runs them on the native backend too.
 */
export function provisionedNativePackage(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path =
    env.MEDFM_TFJS_NODE_PATH?.trim() ||
    `${repositoryRoot}.medfm/native/node_modules/@tensorflow/tfjs-node`;
  return existsSync(`${path}/package.json`) ? path : undefined;
}
