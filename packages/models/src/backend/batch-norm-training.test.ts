import { createRandom } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { backends, env, nativePackage } from "./__fixtures__/test-backends";
import { batchNormTraining } from "./batch-norm-training";
import {
  activeNativeBackend,
  nativeBatchNormReluTraining,
  nativeBatchNormTraining,
} from "./native-ops";
import { selectBackend } from "./select-backend";

// The native backend (TensorFlow's FusedBatchNormV3 and its gradient) joins when provisioned.

const shape: [number, number, number, number] = [3, 5, 4, 6];

function tensor(size: number[], seed: string, low = 0): tf.Tensor {
  const random = createRandom(seed);
  const length = size.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length }, () => (low > 0 ? low + random.next() : 2 * random.normal() + 1)),
    size,
  );
}

/** Output and gradients of Σ bn(x)·g for x, scale and offset, fused or composed from tfjs ops. */
function run(fused: boolean): { output: Float32Array; gradients: Float32Array[] } {
  return tf.tidy(() => {
    const x = tensor(shape, "x") as tf.Tensor4D;
    const g = tensor(shape, "g");
    const scale = tensor([6], "scale", 0.5) as tf.Tensor1D;
    const offset = tensor([6], "offset") as tf.Tensor1D;
    const normalise = (a: tf.Tensor4D, b: tf.Tensor1D, c: tf.Tensor1D) => {
      if (fused) return batchNormTraining(a, b, c, 1e-5);
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return tf.batchNorm4d(a, mean as tf.Tensor1D, variance as tf.Tensor1D, c, b, 1e-5);
    };
    const output = normalise(x, scale, offset).dataSync() as Float32Array;
    const gradients = tf
      .grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.mul(normalise(a as tf.Tensor4D, b as tf.Tensor1D, c as tf.Tensor1D), g)),
      )([x, scale, offset])
      .map((t) => t.dataSync() as Float32Array);
    return { output, gradients };
  });
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let difference = 0;
  for (let i = 0; i < a.length; i++) {
    difference = Math.max(difference, Math.abs((a[i] as number) - (b[i] as number)));
  }
  return difference;
}

describe("batchNormTraining", () => {
  for (const backend of backends) {
    it(`matches moments + batchNorm and their gradients on ${backend}`, async () => {
      await selectBackend({ backend: "cpu", env, log: () => {} });
      const expected = run(false);
      await selectBackend({ backend, env, log: () => {} });
      const actual = run(true);
      expect(maxDifference(actual.output, expected.output)).toBeLessThan(1e-5);
      expect(actual.gradients).toHaveLength(3);
      for (const [index, reference] of expected.gradients.entries()) {
        expect(maxDifference(actual.gradients[index] as Float32Array, reference)).toBeLessThan(
          1e-4,
        );
      }
    });
  }

  for (const backend of backends.filter((name) => name !== "cpu")) {
    it(`hands out the batch statistics once and leaks no tensor on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      const x = tensor(shape, "x") as tf.Tensor4D;
      const scale = tf.ones([6]) as tf.Tensor1D;
      const offset = tf.zeros([6]) as tf.Tensor1D;
      const before = tf.memory().numTensors;
      const seen: number[][] = [];
      const record = (mean: tf.Tensor1D, variance: tf.Tensor1D) => {
        seen.push([...mean.dataSync(), ...variance.dataSync()]);
      };
      tf.dispose(batchNormTraining(x, scale, offset, 1e-5, record));
      const grads = tf.grads((a: tf.Tensor) =>
        tf.sum(batchNormTraining(a as tf.Tensor4D, scale, offset, 1e-5, record)),
      )([x]);
      tf.dispose(grads);
      expect(tf.memory().numTensors).toBe(before);
      expect(seen).toHaveLength(2);
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const reference = [...mean.dataSync(), ...variance.dataSync()];
      for (let i = 0; i < reference.length; i++) {
        expect(seen[0]?.[i]).toBeCloseTo(reference[i] as number, 5);
      }
      tf.dispose([x, scale, offset, mean, variance]);
    });
  }

  for (const backend of backends) {
    it(`folds the batch statistics into running estimates as torch does on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      const x = tensor(shape, "x") as tf.Tensor4D;
      const scale = tensor([6], "scale", 0.5) as tf.Tensor1D;
      const offset = tensor([6], "offset") as tf.Tensor1D;
      const runningMean = tensor([6], "running mean") as tf.Tensor1D;
      const runningVariance = tensor([6], "running variance", 0.5) as tf.Tensor1D;
      const before = tf.memory().numTensors;
      const updates: number[][][] = [];
      const output = batchNormTraining(x, scale, offset, 1e-5, {
        mean: runningMean,
        variance: runningVariance,
        momentum: 0.1,
        update: (mean, variance) =>
          updates.push([Array.from(mean.dataSync()), Array.from(variance.dataSync())]),
      });
      output.dispose();
      expect(tf.memory().numTensors).toBe(before);
      expect(updates).toHaveLength(1);
      // torch: (1 − m)·running + m·batch, the variance unbiased (count/(count − 1)).
      const values = x.dataSync();
      const count = values.length / 6;
      const oldMean = runningMean.dataSync();
      const oldVariance = runningVariance.dataSync();
      for (let channel = 0; channel < 6; channel++) {
        let sum = 0;
        for (let i = channel; i < values.length; i += 6) sum += values[i] as number;
        const mean = sum / count;
        let squares = 0;
        for (let i = channel; i < values.length; i += 6)
          squares += ((values[i] as number) - mean) ** 2;
        const unbiased = squares / (count - 1);
        expect(updates[0]?.[0]?.[channel]).toBeCloseTo(
          0.9 * (oldMean[channel] as number) + 0.1 * mean,
          5,
        );
        expect(updates[0]?.[1]?.[channel]).toBeCloseTo(
          0.9 * (oldVariance[channel] as number) + 0.1 * unbiased,
          5,
        );
      }
      tf.dispose([x, scale, offset, runningMean, runningVariance]);
    });
  }

  for (const backend of backends) {
    it(`with relu, equals tf.relu of the batch norm, gradients and running estimates too, on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      const x = tensor(shape, "x") as tf.Tensor4D;
      const g = tensor(shape, "g");
      const scale = tensor([6], "scale", 0.5) as tf.Tensor1D;
      const offset = tensor([6], "offset") as tf.Tensor1D;
      const running = () => ({
        mean: tensor([6], "running mean") as tf.Tensor1D,
        variance: tensor([6], "running variance", 0.5) as tf.Tensor1D,
      });
      const evaluate = (fusedRelu: boolean) => {
        const estimates: Float32Array[] = [];
        const start = running();
        const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
          const statistics = {
            ...start,
            momentum: 0.1,
            update: (mean: tf.Tensor1D, variance: tf.Tensor1D) => {
              estimates.push(mean.dataSync() as Float32Array, variance.dataSync() as Float32Array);
            },
          };
          const [input, gamma, beta] = [a as tf.Tensor4D, b as tf.Tensor1D, c as tf.Tensor1D];
          const output = fusedRelu
            ? batchNormTraining(input, gamma, beta, 1e-5, statistics, { relu: true })
            : tf.relu(batchNormTraining(input, gamma, beta, 1e-5, statistics));
          return tf.sum(tf.mul(output, g));
        };
        const { value, grads } = tf.valueAndGrads(loss)([x, scale, offset]);
        const result = {
          value: value.dataSync()[0] as number,
          gradients: grads.map((t) => t.dataSync() as Float32Array),
          estimates,
        };
        tf.dispose([value, ...grads, start.mean, start.variance]);
        return result;
      };
      const expected = evaluate(false);
      const before = tf.memory().numTensors;
      const actual = evaluate(true);
      expect(tf.memory().numTensors).toBe(before);
      expect(actual.value).toBeCloseTo(expected.value, 4);
      for (const [index, reference] of expected.gradients.entries()) {
        // Relative to the gradient's size: the fused kernels sum the statistics in another order.
        const size = Math.max(...Array.from(reference, Math.abs));
        expect(
          maxDifference(actual.gradients[index] as Float32Array, reference) / size,
        ).toBeLessThan(1e-5);
      }
      expect(actual.estimates).toHaveLength(2);
      for (const [index, reference] of expected.estimates.entries()) {
        expect(maxDifference(actual.estimates[index] as Float32Array, reference)).toBeLessThan(
          1e-6,
        );
      }
      // The ReLU does something here: about half the outputs are zero, none negative.
      const activated = batchNormTraining(x, scale, offset, 1e-5, undefined, { relu: true });
      const values = Array.from(activated.dataSync());
      activated.dispose();
      expect(values.filter((value) => value === 0).length).toBeGreaterThan(values.length / 4);
      expect(Math.min(...values)).toBe(0);
      tf.dispose([x, g, scale, offset]);
    });
  }

  it.runIf(nativePackage !== undefined)(
    "with relu on tensorflow, runs our fused batch norm and ReLU, and one op for both gradients",
    async () => {
      await selectBackend({ backend: "tensorflow", env, log: () => {} });
      const backend = tf.backend() as unknown as Record<string, (...args: unknown[]) => unknown>;
      const original = backend.executeMultipleOutputs;
      const ops: string[] = [];
      backend.executeMultipleOutputs = (name: unknown, ...rest: unknown[]) => {
        ops.push(String(name));
        return original.call(backend, name, ...rest);
      };
      try {
        const x = tensor(shape, "x") as tf.Tensor4D;
        const scale = tf.ones([6]) as tf.Tensor1D;
        const offset = tf.zeros([6]) as tf.Tensor1D;
        const forward = (a: tf.Tensor) =>
          batchNormTraining(a as tf.Tensor4D, scale, offset, 1e-5, undefined, { relu: true });
        tf.dispose(forward(x));
        expect(ops).toEqual(["MedfmBatchNormReluTraining"]);
        ops.length = 0;
        tf.dispose([tf.grad((a: tf.Tensor) => forward(a).sum())(x), x, scale, offset]);
      } finally {
        backend.executeMultipleOutputs = original;
      }
      expect(ops).toEqual(["MedfmBatchNormReluTraining", "MedfmBatchNormReluGrad"]);
    },
  );

  it.runIf(nativePackage !== undefined)(
    "with relu on tensorflow, its one-op gradient equals ReLU's then batch norm's across threads",
    async () => {
      await selectBackend({ backend: "tensorflow", env, log: () => {} });
      // 110,592 values (2,304 rows of 48 channels): the kernel splits them between threads and
      // sums each channel in blocks of 64 rows.
      const large: [number, number, number, number] = [4, 24, 24, 48];
      const x = tensor(large, "large x") as tf.Tensor4D;
      const g = tensor(large, "large g");
      const scale = tensor([48], "large scale", 0.5) as tf.Tensor1D;
      const offset = tensor([48], "large offset") as tf.Tensor1D;
      const gradients = (fusedRelu: boolean) =>
        tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
          const [input, gamma, beta] = [a as tf.Tensor4D, b as tf.Tensor1D, c as tf.Tensor1D];
          const output = fusedRelu
            ? batchNormTraining(input, gamma, beta, 1e-5, undefined, { relu: true })
            : tf.relu(batchNormTraining(input, gamma, beta, 1e-5));
          return tf.sum(tf.mul(output, g));
        })([x, scale, offset]);
      const expected = gradients(false);
      const actual = gradients(true);
      for (const [index, reference] of expected.entries()) {
        const values = reference.dataSync() as Float32Array;
        const largest = Math.max(...Array.from(values, Math.abs));
        expect(largest).toBeGreaterThan(1);
        const difference = maxDifference(actual[index]?.dataSync() as Float32Array, values);
        expect(difference / largest).toBeLessThan(1e-5);
      }
      tf.dispose([x, g, scale, offset, ...expected, ...actual]);
    },
  );

  it("names the mismatch when scale and input disagree", () => {
    expect(() =>
      batchNormTraining(tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, tf.ones([4]), tf.zeros([3]), 1e-5),
    ).toThrow("input has 3 channels but scale has 4 and offset 3");
  });

  it.runIf(nativePackage !== undefined)(
    "on tensorflow, our fused kernel's statistics and running estimates equal FusedBatchNormV3's on a large, off-centre layer",
    async () => {
      await selectBackend({ backend: "tensorflow", env, log: () => {} });
      const native = activeNativeBackend();
      if (native === undefined) throw new Error("the tensorflow backend is not active");
      // DenseNet's first block at batch 2 (split between threads), activations centred at 30
      // with spread 2: E[x²] − E[x]² would lose four digits without the kernel's shift.
      const x = tf.tidy(() => tf.add(tf.mul(tensor([2, 56, 56, 64], "large x", -0.5), 4), 30));
      const scale = tensor([64], "large scale", 0.5) as tf.Tensor1D;
      const offset = tensor([64], "large offset") as tf.Tensor1D;
      const running = {
        mean: tensor([64], "large mean") as tf.Tensor1D,
        variance: tensor([64], "large variance", 0.5) as tf.Tensor1D,
        momentum: 0.1,
      };
      const ours = nativeBatchNormReluTraining(
        native,
        x as tf.Tensor4D,
        scale,
        offset,
        1e-5,
        running,
      );
      const theirs = nativeBatchNormTraining(
        native,
        x as tf.Tensor4D,
        scale,
        offset,
        1e-5,
        running,
        true,
        false,
      );
      const close = (a: tf.Tensor | undefined, b: tf.Tensor | undefined, tolerance: number) => {
        expect(a?.shape).toEqual(b?.shape);
        const size = (b as tf.Tensor)
          .dataSync<"float32">()
          .reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(
          maxDifference(a?.dataSync() as Float32Array, b?.dataSync() as Float32Array) / size,
        ).toBeLessThan(tolerance);
      };
      // The batch statistics against float64 sums of the same values: ours within 1e-6
      // relative (TensorFlow's own are within about 3e-6 here).
      const values = x.dataSync();
      const mean = new Float64Array(64);
      const variance = new Float64Array(64);
      const count = values.length / 64;
      values.forEach((value, index) => {
        mean[index % 64] += value / count;
      });
      values.forEach((value, index) => {
        variance[index % 64] += (value - (mean[index % 64] ?? 0)) ** 2 / count;
      });
      const relative = (a: tf.Tensor, b: Float64Array) =>
        Math.max(...Array.from(a.dataSync(), (v, c) => Math.abs(v - (b[c] ?? 0)) / (b[c] ?? 1)));
      expect(relative(ours.mean, mean)).toBeLessThan(1e-6);
      expect(relative(ours.variance, variance)).toBeLessThan(1e-6);
      close(ours.runningMean, theirs.runningMean, 1e-5);
      close(ours.runningVariance, theirs.runningVariance, 1e-5);
      close(ours.y, theirs.y, 1e-5);
      expect(ours.reserve.size).toBe(0);
      tf.dispose([x, scale, offset, running.mean, running.variance]);
      tf.dispose([...Object.values(ours), ...Object.values(theirs)] as tf.Tensor[]);
    },
  );
});
