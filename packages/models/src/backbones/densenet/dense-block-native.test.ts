import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { recordNativeOps } from "../../backend/__fixtures__/native-op-recorder";
import { activeNativeBackend, nativeBatchNormReluGradAdd } from "../../backend/native-ops";
import { selectBackend } from "../../backend/select-backend";
import { provisionedNativePackage } from "../../native/provisioned-native-backend";
import { useNativeBackend } from "../../native/use-native-backend";
import { BatchNorm2d } from "./batch-norm";
import {
  denseBlockTraining,
  denseLayerParameters,
  type TrainingDenseLayer,
} from "./dense-block-native";

const nativePackage = provisionedNativePackage();
if (nativePackage === undefined) {
  console.warn(
    "[dense-block-native.test] skipped: native TensorFlow backend not provisioned (run `pnpm medfm backend install` or set MEDFM_TFJS_NODE_PATH)",
  );
}

function tensor(shape: number[], seed: string, low?: number): tf.Tensor {
  const random = createRandom(seed);
  const length = shape.reduce((a, b) => a * b, 1);
  const values = Float32Array.from({ length }, () =>
    low === undefined ? random.normal() : low + random.next(),
  );
  return tf.tensor(values, shape);
}

let scopes = 0;

/** Dense layers with seeded parameters and running estimates, the same for the same seed. */
function layers(inputChannels: number, growth: number, count: number): TrainingDenseLayer[] {
  scopes += 1;
  return Array.from({ length: count }, (_, index) => {
    const channels = inputChannels + index * growth;
    const bottleneck = 2 * growth;
    const norm = (key: string, width: number) => {
      const layer = new BatchNorm2d(`dense-block-test-${scopes}`, `${index}.${key}`, width);
      layer.weight.assign(tensor([width], `${index}.${key}.weight`, 0.5) as tf.Tensor1D);
      layer.bias.assign(tensor([width], `${index}.${key}.bias`) as tf.Tensor1D);
      layer.runningVar.assign(tensor([width], `${index}.${key}.var`, 0.5) as tf.Tensor1D);
      return layer;
    };
    const filter = (key: string, shape: [number, number, number, number]) => ({
      filter: tf.variable(tensor(shape, `${index}.${key}`).mul(0.2) as tf.Tensor4D, true),
    });
    return {
      norm1: norm("norm1", channels),
      conv1: filter("conv1", [1, 1, channels, bottleneck]),
      norm2: norm("norm2", bottleneck),
      conv2: filter("conv2", [3, 3, bottleneck, growth]),
    };
  });
}

/** The block layer by layer (as `densenet.ts` runs it with dropout): tfjs differentiates each op. */
function standardBlock(block: TrainingDenseLayer[], input: tf.Tensor4D): tf.Tensor4D {
  const options = { training: true, relu: true };
  let features = input;
  for (const layer of block) {
    const bottleneck = tf.conv2d(
      layer.norm1.apply(features, options),
      layer.conv1.filter,
      1,
      "valid",
    );
    const fresh = tf.conv2d(layer.norm2.apply(bottleneck, options), layer.conv2.filter, 1, "same");
    features = tf.concat([features, fresh], 3) as tf.Tensor4D;
  }
  return features;
}

/**
 * Output and gradients (input first) of the block, from a step for its variables and one for its
 * input, and the native ops of the first (none off the tensorflow backend).
 */
function step(
  block: TrainingDenseLayer[],
  input: tf.Tensor4D,
  weights: tf.Tensor,
  native: boolean,
): { output: Float32Array; gradients: Float32Array[]; ops: string[] } {
  const recorder = recordNativeOps();
  try {
    return tf.tidy(() => {
      let output: Float32Array = new Float32Array();
      const run = (x: tf.Tensor) => {
        const features = native
          ? denseBlockTraining(block, x as tf.Tensor4D)
          : standardBlock(block, x as tf.Tensor4D);
        output = features.dataSync() as Float32Array;
        return tf.sum(tf.mul(features, weights)) as tf.Scalar;
      };
      const variables = denseLayerParameters(block);
      const { grads } = tf.variableGrads(() => {
        const x = tf.add(input, 0) as tf.Tensor4D;
        return run(x);
      }, variables);
      const ops = recorder.names();
      const inputGradient = tf.grad((x: tf.Tensor) => run(x))(input);
      return {
        output,
        gradients: [inputGradient, ...variables.map((v) => grads[v.name])].map(
          (t) => t.dataSync() as Float32Array,
        ),
        ops,
      };
    });
  } finally {
    recorder.restore();
  }
}

/**
 * Compares the block op with the layer-by-layer block on the active backend: output, every
 * gradient and the running estimates. Returns the native ops of each (empty off tensorflow).
 */
function compareWithLayerByLayer(): { actual: string[]; expected: string[] } {
  const [batch, size, channels, growth] = [4, 24, 40, 8];
  const input = tensor([batch, size, size, channels], "input") as tf.Tensor4D;
  const weights = tensor([batch, size, size, channels + 3 * growth], "loss weights");
  const standard = layers(channels, growth, 3);
  const native = layers(channels, growth, 3);
  const expected = step(standard, input, weights, false);
  const actual = step(native, input, weights, true);
  expect(Array.from(actual.output)).toEqual(Array.from(expected.output));
  expect(actual.gradients).toHaveLength(1 + 6 * 3);
  for (const [index, reference] of expected.gradients.entries()) {
    const values = actual.gradients[index] as Float32Array;
    expect(values.length).toBe(reference.length);
    let largest = 0;
    let difference = 0;
    for (let i = 0; i < reference.length; i += 1) {
      largest = Math.max(largest, Math.abs(reference[i] as number));
      difference = Math.max(difference, Math.abs((values[i] as number) - (reference[i] as number)));
    }
    expect(largest).toBeGreaterThan(0);
    expect(difference / largest).toBeLessThan(1e-6);
  }
  // Both steps (the variables' and the input's) folded their statistics in alike.
  for (const [index, layer] of native.entries()) {
    for (const key of ["norm1", "norm2"] as const) {
      const [a, b] = [layer[key], standard[index]![key]];
      expect(a.numBatchesTracked).toBe(2);
      expect(b.numBatchesTracked).toBe(2);
      expect(Array.from(a.runningMean.dataSync())).toEqual(Array.from(b.runningMean.dataSync()));
      expect(Array.from(a.runningVar.dataSync())).toEqual(Array.from(b.runningVar.dataSync()));
    }
  }
  tf.dispose([input, weights]);
  for (const layer of [...standard, ...native]) {
    for (const norm of [layer.norm1, layer.norm2]) {
      tf.dispose([norm.weight, norm.bias, norm.runningMean, norm.runningVar]);
    }
    tf.dispose([layer.conv1.filter, layer.conv2.filter]);
  }
  return { actual: actual.ops, expected: expected.ops };
}

for (const backend of ["cpu", "wasm"] as const) {
  describe(`denseBlockTraining on ${backend}`, () => {
    it("gives the layer-by-layer block's output, gradients and running estimates", async () => {
      await selectBackend({ backend, log: () => {} });
      compareWithLayerByLayer();
    });
  });
}

describe.runIf(nativePackage !== undefined)("denseBlockTraining on the tensorflow backend", () => {
  useNativeBackend(nativePackage);

  // 3 layers on 24×24 features of 40 to 56 channels at batch 4: the gradient kernels split each
  // layer's 92,160+ values between threads, and the first layer's adds without a split.
  it("gives the layer-by-layer block's output, gradients and running estimates with fewer ops", () => {
    const ops = compareWithLayerByLayer();
    // The variables' step, op by op: the layer-by-layer block splits the concatenation's
    // gradient and adds it to norm1's in every layer; the block op splits its gradient once.
    const count = (list: string[], name: string) => list.filter((op) => op === name).length;
    expect(count(ops.actual, "MedfmBatchNormReluGradAdd")).toBe(3);
    expect(count(ops.expected, "MedfmBatchNormReluGradAdd")).toBe(0);
    expect([count(ops.expected, "SplitV"), count(ops.actual, "SplitV")]).toEqual([3, 1]);
    // One Add is the step's own (the input plus 0). The input gets no gradient in this step, so
    // tfjs adds for the second and third layers' inputs only.
    expect([count(ops.expected, "Add"), count(ops.actual, "Add")]).toEqual([3, 1]);
    expect(ops.actual.length).toBe(ops.expected.length - 4);
  });

  it("names the inputs when a residual does not fit", async () => {
    const backend = activeNativeBackend()!;
    const x = tensor([1, 2, 2, 3], "x") as tf.Tensor4D;
    const vector = tf.ones([3]) as tf.Tensor1D;
    const outputs = nativeBatchNormReluGradAdd(
      backend,
      x,
      x,
      { x, scale: vector, mean: vector, variance: vector },
      1e-5,
      tf.zeros([1, 2, 2, 4]),
      tf.zeros([1]),
    );
    // Ops run asynchronously: the kernel's error arrives with the next read.
    await expect(outputs[0].data()).rejects.toThrow(
      "MedfmBatchNormReluGradAdd: dy, y and x and residual must be NHWC of one shape",
    );
    tf.dispose([x, vector, ...outputs]);
  });
});
