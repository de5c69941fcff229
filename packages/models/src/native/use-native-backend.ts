// Test support (not exported by the package): the provisioned native backend for a describe
// block's tests, and cpu again after them.
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, expect } from "vitest";
import { selectBackend } from "../backend/select-backend";

/**
 * Inside a `describe`: selects the native `tensorflow` backend from `nativePackage` (see
 * `provisionedNativePackage`) before its tests, and `cpu` after them.
 */
export function useNativeBackend(nativePackage: string | undefined): void {
  beforeAll(async () => {
    const selection = await selectBackend({
      backend: "tensorflow",
      env: { ...process.env, MEDFM_TFJS_NODE_PATH: nativePackage },
      log: () => {},
    });
    expect(selection.backend).toBe("tensorflow");
  });

  afterAll(async () => {
    await tf.setBackend("cpu");
  });
}
