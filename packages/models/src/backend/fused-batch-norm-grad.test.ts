import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { fusedBatchNormGradConfig, registerFusedBatchNormGrad } from "./fused-batch-norm-grad";
import { selectBackend } from "./select-backend";

const tfjsGradient = tf.getGradient(tf.FusedBatchNorm);

function values(shape: number[], seed: string, positive = false): tf.Tensor {
  const random = createRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: size }, () => (positive ? 0.5 + random.next() : random.normal())),
    shape,
  );
}

/**
 * Gradients of Σ batchNorm(x, mean, variance, offset, scale)·g with respect to all five, through
 * the FusedBatchNorm kernel or (`composed`) through elementwise ops with their own gradients.
 */
function gradients(statisticsShape: number[], composed: boolean): Float32Array[] {
  return tf.tidy(() => {
    const x = values([2, 5, 3, 6], "x");
    const g = values([2, 5, 3, 6], "g");
    const inputs = [
      x,
      values(statisticsShape, "mean"),
      values(statisticsShape, "variance", true),
      values(statisticsShape, "offset"),
      values(statisticsShape, "scale"),
    ];
    const f = (...args: tf.Tensor[]) => {
      const [a, mean, variance, offset, scale] = args as [tf.Tensor4D, ...tf.Tensor[]];
      const y = composed
        ? tf.add(
            tf.mul(
              tf.mul(tf.sub(a, mean as tf.Tensor), tf.rsqrt(tf.add(variance as tf.Tensor, 1e-5))),
              scale as tf.Tensor,
            ),
            offset as tf.Tensor,
          )
        : tf.batchNorm(a, mean as tf.Tensor, variance as tf.Tensor, offset, scale, 1e-5);
      return tf.sum(tf.mul(y, g));
    };
    return tf
      .grads(f)(inputs)
      .map((t) => t.dataSync() as Float32Array);
  });
}

describe("FusedBatchNorm gradient without Tile", () => {
  afterAll(() => {
    tf.registerGradient(tfjsGradient);
  });

  for (const [name, shape] of [
    ["per-channel statistics", [6]],
    ["rank-4 statistics (tfjs's own gradient fails here)", [1, 1, 1, 6]],
  ] as Array<[string, number[]]>) {
    it(`equals the composed ops' gradient for ${name}`, async () => {
      await selectBackend({ backend: "cpu", log: () => {} });
      const expected = gradients(shape, true);
      registerFusedBatchNormGrad();
      expect(tf.getGradient(tf.FusedBatchNorm)).toBe(fusedBatchNormGradConfig);
      const actual = gradients(shape, false);
      expect(actual.length).toBe(expected.length);
      for (const [index, reference] of expected.entries()) {
        const result = actual[index] as Float32Array;
        expect(result.length).toBe(reference.length);
        for (let i = 0; i < reference.length; i++) {
          expect(result[i]).toBeCloseTo(reference[i] as number, 4);
        }
      }
    });
  }

  it("equals tfjs's own gradient where that one works", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    tf.registerGradient(tfjsGradient);
    const expected = gradients([6], false);
    registerFusedBatchNormGrad();
    const actual = gradients([6], false);
    for (const [index, reference] of expected.entries()) {
      const result = actual[index] as Float32Array;
      for (let i = 0; i < reference.length; i++) {
        expect(result[i]).toBeCloseTo(reference[i] as number, 4);
      }
    }
  });
});
