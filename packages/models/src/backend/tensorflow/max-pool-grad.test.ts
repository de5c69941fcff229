import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionedNativePackage } from "../../native/provisioned-native-backend";
import { recordNativeOps } from "../__fixtures__/native-op-recorder";
import { registerMedfmKernels } from "../kernel-registry";
import { selectBackend } from "../select-backend";

const nativePackage = provisionedNativePackage();

/** ReLU of random values: a quarter of 2×2 windows hold only zeros, so ties are common. */
function reluInput(seed: number, shape: [number, number, number, number]): Float32Array {
  const random = createRandom(seed);
  const count = shape.reduce((product, size) => product * size, 1);
  return Float32Array.from({ length: count }, () => Math.max(0, random.next() - 0.5));
}

const cases: Array<{
  name: string;
  shape: [number, number, number, number];
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: "valid" | "same";
}> = [
  {
    name: "DenseNet's stem: 3×3, stride 2, valid",
    shape: [2, 13, 11, 5],
    filterSize: 3,
    strides: 2,
    pad: "valid",
  },
  {
    name: "2×3, strides 2×1, same",
    shape: [1, 8, 9, 3],
    filterSize: [2, 3],
    strides: [2, 1],
    pad: "same",
  },
];

/** dL/dx of `sum(maxPool(x) · weights)` on the active backend. */
async function poolGradient(testCase: (typeof cases)[number], seed: number): Promise<Float32Array> {
  const x = tf.tensor4d(reluInput(seed, testCase.shape), testCase.shape);
  const pooledShape = tf.maxPool(x, testCase.filterSize, testCase.strides, testCase.pad).shape;
  const random = createRandom(seed + 1);
  const weights = tf.tensor(
    Float32Array.from({ length: pooledShape.reduce((a, b) => a * b, 1) }, () => random.next()),
    pooledShape,
  );
  const gradient = tf.grad((input: tf.Tensor) =>
    tf.sum(
      tf.mul(
        tf.maxPool(input as tf.Tensor4D, testCase.filterSize, testCase.strides, testCase.pad),
        weights,
      ),
    ),
  )(x);
  const values = (await gradient.data()) as Float32Array;
  tf.dispose([x, weights, gradient]);
  return values;
}

describe("MaxPool gradient", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("keeps tfjs's own gradient and MaxPoolGrad kernel on the cpu backend", async () => {
    const kernel = tf.getKernel(tf.MaxPoolGrad, "cpu");
    const before = await poolGradient(cases[0], 7);
    registerMedfmKernels();
    expect(tf.getKernel(tf.MaxPoolGrad, "cpu")).toBe(kernel);
    expect(await poolGradient(cases[0], 7)).toEqual(before);
    // Each window's gradient lands on one input: the sum is kept.
    const total = before.reduce((sum, value) => sum + value, 0);
    expect(total).toBeGreaterThan(0);
  });
});

describe.runIf(nativePackage !== undefined)("MaxPool gradient, native tensorflow backend", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  for (const testCase of cases) {
    it(`equals the cpu backend's, ties included: ${testCase.name}`, async () => {
      await tf.setBackend("cpu");
      const expected = await poolGradient(testCase, 11);
      const selection = await selectBackend({
        backend: "tensorflow",
        env: { ...process.env, MEDFM_TFJS_NODE_PATH: nativePackage },
        log: () => {},
      });
      expect(selection.backend).toBe("tensorflow");
      // tfjs's own MaxPool gradient, running the tensorflow table's MaxPoolGrad kernel.
      expect(tf.getGradient(tf.MaxPool)?.gradFunc.toString()).toContain("maxPoolGrad");
      // Record the TensorFlow ops run, to see that oneDNN's kernels did the work.
      const native = recordNativeOps();
      try {
        const actual = await poolGradient(testCase, 11);
        expect(actual.length).toBe(expected.length);
        // An input that is the maximum of several overlapping windows sums their gradients, in
        // another order than the cpu backend; a tie routed elsewhere would differ by O(1).
        const worst = actual.reduce(
          (most, value, index) => Math.max(most, Math.abs(value - expected[index])),
          0,
        );
        expect(worst).toBeLessThan(1e-5);
      } finally {
        native.restore();
      }
      expect(native.names()).toContain("_MklNativeMaxPoolGrad");
      expect(native.names()).not.toContain("MaxPoolGrad");
    });
  }
});
