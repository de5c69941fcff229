import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { recordNativeOps } from "./__fixtures__/native-op-recorder";
import { backends, env, normal } from "./__fixtures__/test-backends";
import { MedfmConv2dBatchNormRelu } from "./kernel-names";
import { runMedfmKernel } from "./kernel-registry";
import { selectBackend } from "./select-backend";

describe("MedfmConv2dBatchNormRelu: inference conv + batch norm + ReLU in one kernel", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  for (const backend of backends) {
    it(`equals conv2d, batchNorm and relu for DenseNet's three shapes on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      const native = recordNativeOps();
      // conv0 (7×7, stride 2, explicit padding then "valid"), conv1 (1×1), a 3×3 "same".
      const cases = [
        { size: 7, stride: 2, padding: "valid", input: [2, 15, 15, 3], out: 8 },
        { size: 1, stride: 1, padding: "valid", input: [2, 6, 6, 20], out: 16 },
        { size: 3, stride: 1, padding: "same", input: [1, 5, 7, 6], out: 4 },
      ] as const;
      try {
        for (const [index, { size, stride, padding, input, out }] of cases.entries()) {
          const x = normal([...input], `fcbr-x${index}`) as tf.Tensor4D;
          const filter = normal([size, size, input[3], out], `fcbr-f${index}`, 0.3) as tf.Tensor4D;
          const scale = normal([out], `fcbr-s${index}`, 0.4, 1) as tf.Tensor1D;
          const offset = normal([out], `fcbr-o${index}`, 0.2) as tf.Tensor1D;
          const mean = normal([out], `fcbr-m${index}`, 0.5) as tf.Tensor1D;
          const variance = tf.abs(normal([out], `fcbr-v${index}`, 0.5, 1)) as tf.Tensor1D;
          const expected = tf.relu(
            tf.batchNorm4d(
              tf.conv2d(x, filter, stride, padding),
              mean,
              variance,
              offset,
              scale,
              1e-5,
            ),
          );
          const fused = runMedfmKernel(
            MedfmConv2dBatchNormRelu,
            { x, filter, scale, offset, mean, variance },
            { stride, padding, epsilon: 1e-5 },
          ) as tf.Tensor;
          expect(fused.shape).toEqual(expected.shape);
          const difference = tf.max(tf.abs(tf.sub(fused, expected))).dataSync()[0];
          expect(difference).toBeLessThan(1e-4);
          // The ReLU is there: some outputs are exactly 0, some are positive.
          const values = fused.dataSync();
          expect(values.some((value) => value === 0)).toBe(true);
          expect(values.some((value) => value > 0)).toBe(true);
        }
        if (backend === "tensorflow") {
          const names = native.names();
          expect(names.filter((name) => name === "_MklNativeFusedConv2D")).toHaveLength(3);
        }
      } finally {
        native.restore();
      }
    });
  }
});
