import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { recordNativeOps } from "./__fixtures__/native-op-recorder";
import { backends, env, normal } from "./__fixtures__/test-backends";
import { MedfmBatchNormRelu } from "./kernel-names";
import { runMedfmKernel } from "./kernel-registry";
import { selectBackend } from "./select-backend";

describe("MedfmBatchNormRelu: inference batch norm + ReLU in one kernel", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  for (const backend of backends) {
    it(`equals batchNorm then relu for DenseNet's shapes on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      const native = recordNativeOps();
      // A dense layer's norm1 (odd channel count: no vector-width multiple), a transition's
      // norm at batch 2 large enough to split between threads, and a 2-D input.
      const shapes = [
        [2, 5, 5, 44],
        [2, 28, 28, 64],
        [6, 19],
      ];
      try {
        for (const [index, shape] of shapes.entries()) {
          const channels = shape[shape.length - 1] as number;
          const x = normal(shape, `bnr-x${index}`, 2, 0.3);
          const scale = normal([channels], `bnr-s${index}`, 0.5, 1) as tf.Tensor1D;
          const offset = normal([channels], `bnr-o${index}`, 0.3) as tf.Tensor1D;
          const mean = normal([channels], `bnr-m${index}`, 0.5) as tf.Tensor1D;
          const variance = tf.abs(normal([channels], `bnr-v${index}`, 0.5, 1)) as tf.Tensor1D;
          const before = x.dataSync().slice();
          const expected = tf.relu(tf.batchNorm(x, mean, variance, offset, scale, 1e-5));
          const fused = runMedfmKernel(
            MedfmBatchNormRelu,
            { x, scale, offset, mean, variance },
            { epsilon: 1e-5 },
          ) as tf.Tensor;
          expect(fused.shape).toEqual(shape);
          expect(tf.max(tf.abs(tf.sub(fused, expected))).dataSync()[0]).toBeLessThan(1e-5);
          const values = fused.dataSync();
          expect(values.some((value) => value === 0)).toBe(true);
          expect(values.some((value) => value > 0)).toBe(true);
          expect(Array.from(x.dataSync())).toEqual(Array.from(before));
          tf.dispose([x, scale, offset, mean, variance, expected, fused]);
        }
        const names = native.names();
        if (backend === "tensorflow") {
          expect(names.filter((name) => name === "MedfmBatchNormRelu")).toHaveLength(3);
        } else {
          expect(names).toEqual([]);
        }
      } finally {
        native.restore();
      }
    });
  }
});
