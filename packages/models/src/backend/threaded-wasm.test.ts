import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { selectBackend } from "./select-backend";

function convolutionGradients(): Float32Array[] {
  return tf.tidy(() => {
    const random = createRandom("threaded-wasm");
    const x = tf.tensor4d(
      Float32Array.from({ length: 2 * 12 * 12 * 16 }, () => random.normal()),
      [2, 12, 12, 16],
    );
    const w = tf.tensor4d(
      Float32Array.from({ length: 3 * 3 * 16 * 8 }, () => random.normal()),
      [3, 3, 16, 8],
    );
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same"))),
    )([x, w]);
    return grads.map((t) => t.dataSync() as Float32Array);
  });
}

describe("threaded wasm in Node", () => {
  it("runs tfjs's threaded SIMD build with the threads asked for and computes like cpu", async () => {
    const lines: string[] = [];
    const selection = await selectBackend({
      backend: "wasm",
      experimental_wasmThreads: 2,
      log: (line) => lines.push(line),
    });
    expect(selection).toMatchObject({
      backend: "wasm",
      source: "@tensorflow/tfjs-backend-wasm (threaded SIMD build)",
      threads: 2,
      skipped: [],
    });
    expect(lines[0]).toContain(
      "wasm (2 threads) from @tensorflow/tfjs-backend-wasm (threaded SIMD build)",
    );
    const threaded = convolutionGradients();
    await selectBackend({ backend: "cpu", log: () => {} });
    const reference = convolutionGradients();
    for (const [index, expected] of reference.entries()) {
      const actual = threaded[index] as Float32Array;
      let scale = 0;
      let error = 0;
      for (let i = 0; i < expected.length; i++) {
        scale = Math.max(scale, Math.abs(expected[i] as number));
        error = Math.max(error, Math.abs((actual[i] as number) - (expected[i] as number)));
      }
      expect(error / scale).toBeLessThan(1e-5);
    }
  });

  it("rejects a thread count outside 1 to 8", async () => {
    await expect(
      selectBackend({ backend: "wasm", env: { MEDFM_WASM_THREADS: "16" }, log: () => {} }),
    ).rejects.toThrow("MEDFM_WASM_THREADS must be an integer from 1 to 8, got '16'");
  });
});
