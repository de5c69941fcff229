import { existsSync, readFileSync } from "node:fs";
import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { densenet } from "../backbones/densenet/densenet";
import { selectBackend } from "../backend/select-backend";
import { createClassifier } from "../classifier";
import { linearHead } from "../heads/linear-head";
import { binaryCrossEntropyWithLogits } from "../train/losses";
import { sgd } from "../train/optimizers";
import { provisionedNativePackage } from "./provisioned-native-backend";

// The native backend built by `pnpm medfm backend install` (scripts/native-backend/ for library
// users): MEDFM_TFJS_NODE_PATH, else the command's default directory in this checkout.
const provisionedPackage = provisionedNativePackage();
const nativePackage = provisionedPackage ?? "";
const provisioned = provisionedPackage !== undefined;
const forced = process.env.MEDFM_BACKEND?.trim() === "tensorflow";
const notProvisioned =
  "native TensorFlow backend not provisioned (no MEDFM_TFJS_NODE_PATH, no .medfm/native in this checkout): run " +
  "`pnpm medfm backend install` (or set MEDFM_TFJS_NODE_PATH) to run these tests";

if (!provisioned && !forced) {
  console.warn(`[tensorflow-backend.test] skipped: ${notProvisioned}`);
}

/** Relative-and-absolute closeness, reported with the worst element's index and values. */
function expectClose(
  actual: Float32Array,
  expected: Float32Array,
  tolerance: number,
  what: string,
) {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = 0;
  let worstIndex = 0;
  for (let index = 0; index < actual.length; index += 1) {
    const error = Math.abs(actual[index] - expected[index]) / (1 + Math.abs(expected[index]));
    if (!(error <= worst)) {
      worst = error;
      worstIndex = index;
    }
  }
  expect(
    worst,
    `${what}: worst error at [${worstIndex}]: ${actual[worstIndex]} vs ${expected[worstIndex]}`,
  ).toBeLessThan(tolerance);
}

function randomValues(seed: number, count: number): Float32Array {
  const random = createRandom(seed);
  return Float32Array.from({ length: count }, () => random.next() * 2 - 1);
}

/** Runs `compute` with the given backend active and returns its outputs as plain arrays. */
async function onBackend(
  backend: "cpu" | "tensorflow",
  compute: () => tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const outputs = tf.tidy(compute);
  const values = await Promise.all(outputs.map((output) => output.data() as Promise<Float32Array>));
  tf.dispose(outputs);
  return values;
}

describe.runIf(provisioned || forced)("tensorflow backend (native, from PyPI wheels)", () => {
  let tensorflowVersion = "";

  beforeAll(async () => {
    const selection = await selectBackend({
      backend: "tensorflow",
      env: { MEDFM_TFJS_NODE_PATH: nativePackage },
      log: () => {},
    });
    expect(selection.backend).toBe("tensorflow");
    tensorflowVersion = (tf.backend() as unknown as { binding: { TF_Version: string } }).binding
      .TF_Version;
  });

  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  it("registers into this package's @tensorflow/tfjs (one engine, global kernel registry)", async () => {
    expect(tf.getBackend()).toBe("tensorflow");
    expect(tensorflowVersion).toMatch(/^2\.\d+\.\d+/);
    const manifestFile = `${nativePackage}/../../../medfm-native-backend.json`;
    if (existsSync(manifestFile)) {
      const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as {
        tensorflowVersion: string;
      };
      expect(tensorflowVersion).toBe(manifest.tensorflowVersion);
    }
    // A kernel the native backend registered is visible through our copy of tfjs-core.
    expect(tf.getKernel("Conv2D", "tensorflow")).toBeDefined();
    const product = tf.matMul(
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
      tf.tensor2d([[5], [6]]),
    );
    expect(Array.from(await product.data())).toEqual([17, 39]);
    product.dispose();
  });

  it("matches cpu on convolution, batch norm, pooling and their gradients", async () => {
    const inputValues = randomValues(1, 2 * 9 * 11 * 5);
    const filterValues = randomValues(2, 3 * 3 * 5 * 6);
    const gammaValues = randomValues(3, 6);
    const betaValues = randomValues(4, 6);
    const compute = () => {
      const input = tf.tensor4d(inputValues, [2, 9, 11, 5]);
      const filter = tf.tensor4d(filterValues, [3, 3, 5, 6]);
      const gamma = tf.tensor1d(gammaValues);
      const beta = tf.tensor1d(betaValues);
      const forward = (x: tf.Tensor4D, w: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D) => {
        const conv = tf.conv2d(x, w, 2, "same");
        const { mean, variance } = tf.moments(conv, [0, 1, 2]);
        const normalized = tf.batchNorm4d(
          conv,
          mean as tf.Tensor1D,
          variance as tf.Tensor1D,
          b,
          g,
          1e-5,
        );
        return tf.avgPool(tf.maxPool(tf.relu(normalized), 2, 1, "valid"), 2, 1, "valid");
      };
      const output = forward(input, filter, gamma, beta);
      const weights = tf.tensor(randomValues(5, output.size), output.shape);
      const gradients = tf.grads((x, w, g, b) =>
        tf.sum(
          tf.mul(
            forward(x as tf.Tensor4D, w as tf.Tensor4D, g as tf.Tensor1D, b as tf.Tensor1D),
            weights,
          ),
        ),
      )([input, filter, gamma, beta]);
      return [output, ...gradients];
    };
    const reference = await onBackend("cpu", compute);
    const native = await onBackend("tensorflow", compute);
    const names = ["output", "d input", "d filter", "d gamma", "d beta"];
    native.forEach((values, index) => {
      expectClose(values, reference[index], 1e-4, names[index]);
    });
    // The gradient is not trivially zero, so the comparison above has something to compare.
    expect(reference[2].some((value) => Math.abs(value) > 1e-3)).toBe(true);
  });

  it("matches cpu on a small DenseNet classifier: forward, train-mode loss gradients, SGD steps", async () => {
    const config = { growthRate: 4, blockConfig: [2, 2], numInitFeatures: 8, bnSize: 2, seed: 3 };
    const imageValues = randomValues(6, 4 * 32 * 32 * 3);
    const targetValues = Float32Array.from([1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0]);

    const run = async (backend: "cpu" | "tensorflow") => {
      await tf.setBackend(backend);
      const model = createClassifier({
        backbone: densenet(config),
        head: linearHead({ numClasses: 3, kind: "multi-label", seed: 4 }),
      });
      const images = tf.tensor4d(imageValues, [4, 32, 32, 3]);
      const targets = tf.tensor2d(targetValues, [4, 3]);
      const loss = binaryCrossEntropyWithLogits();
      const optimizer = sgd({ momentum: 0.9, weightDecay: 1e-4 });
      const evalLogits = await model.predict(images).data();
      const losses: number[] = [];
      for (let step = 0; step < 3; step += 1) {
        const variables = model.trainableVariables();
        const { value, grads } = tf.variableGrads(
          () => loss(model.forward(images, { training: true }), targets),
          variables,
        );
        losses.push((await value.data())[0]);
        optimizer.step(variables, grads, 0.05);
        tf.dispose([value, ...Object.values(grads)]);
      }
      const state = model.stateDict();
      const runningMean = await state.get("features.norm0.running_mean")!.data();
      const finalLogits = await model.predict(images).data();
      tf.dispose([images, targets, ...state.values()]);
      optimizer.dispose();
      model.dispose();
      return { evalLogits, losses, runningMean, finalLogits };
    };

    const reference = await run("cpu");
    const native = await run("tensorflow");
    expectClose(
      native.evalLogits as Float32Array,
      reference.evalLogits as Float32Array,
      1e-4,
      "eval logits",
    );
    expectClose(
      Float32Array.from(native.losses),
      Float32Array.from(reference.losses),
      1e-4,
      "losses",
    );
    expectClose(
      native.runningMean as Float32Array,
      reference.runningMean as Float32Array,
      1e-4,
      "running mean",
    );
    expectClose(
      native.finalLogits as Float32Array,
      reference.finalLogits as Float32Array,
      1e-4,
      "logits after 3 steps",
    );
    // Training moved the model, so agreeing after it means the updates agreed too.
    expect(reference.losses[2]).not.toBeCloseTo(reference.losses[0], 4);
  });
});

if (!(provisioned || forced)) {
  describe("tensorflow backend (native, from PyPI wheels)", () => {
    it.skip(notProvisioned, () => {});
  });
}
