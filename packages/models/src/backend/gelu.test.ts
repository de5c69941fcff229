import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { gelu } from "../backbones/transformer/activations";
import { recordNativeOps } from "./__fixtures__/native-op-recorder";
import { backends, env, maxDifference, normal } from "./__fixtures__/test-backends";
import { exactGelu } from "./exact-gelu";
import { selectBackend } from "./select-backend";

/** GELU and its derivative in double precision, from the definition (erf by its series). */
function referenceGelu(x: number): { y: number; derivative: number } {
  const z = x / Math.SQRT2;
  // erf by its Taylor series (|z| ≤ 3; cancellation costs about 1e-12).
  let erf: number;
  if (Math.abs(z) <= 3) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 80; n += 1) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    erf = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc's asymptotic series, to its fifth term (below 1e-9 for |z| > 3).
    const inverse = 1 / (2 * z * z);
    let term = 1;
    let series = 1;
    for (let n = 1; n <= 5; n += 1) {
      term *= -(2 * n - 1) * inverse;
      series += term;
    }
    const erfc = (Math.exp(-z * z) / (Math.abs(z) * Math.sqrt(Math.PI))) * series;
    erf = Math.sign(z) * (1 - erfc);
  }
  const cdf = 0.5 * (1 + erf);
  const pdf = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  return { y: x * cdf, derivative: cdf + x * pdf };
}

describe("MedfmGelu: exact GELU and its gradient as kernels", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  for (const backend of backends) {
    it(`matches the definition and tfjs's autodiff of the composite on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      const native = recordNativeOps();
      try {
        // A grid over [−10, 10] (both tails, and 0), then an MLP's hidden layer: 3 × 70 × 384
        // values, enough for the native kernel to split its work between threads.
        const grid = tf.linspace(-10, 10, 2001);
        const hidden = normal([3, 70, 384], "gelu-hidden", 2);
        for (const x of [grid, hidden]) {
          const before = x.dataSync().slice();
          const y = gelu(x);
          expect(y.shape).toEqual(x.shape);
          expect(maxDifference(y, exactGelu(x))).toBeLessThan(2e-6);
          const upstream = normal(x.shape, `gelu-dy-${x.size}`);
          const ours = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(gelu(a), upstream)))(x);
          const theirs = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(exactGelu(a), upstream)))(x);
          expect(maxDifference(ours, theirs)).toBeLessThan(1e-5);
          // Against the definition in double precision, value by value.
          const values = y.dataSync();
          const gradients = ours.dataSync();
          const dy = upstream.dataSync();
          let worst = 0;
          before.forEach((value, index) => {
            const reference = referenceGelu(value);
            worst = Math.max(
              worst,
              Math.abs((values[index] ?? Number.NaN) - reference.y) / Math.max(1, Math.abs(value)),
              Math.abs((gradients[index] ?? Number.NaN) - (dy[index] ?? 0) * reference.derivative) /
                Math.max(1, Math.abs(dy[index] ?? 0)),
            );
          });
          expect(worst).toBeLessThan(2e-6);
          // The input is not overwritten (a kernel may only reuse a buffer no one else holds).
          expect(Array.from(x.dataSync())).toEqual(Array.from(before));
          tf.dispose([y, upstream, ours, theirs]);
        }
        tf.dispose([grid, hidden]);
        const ops = native.names();
        if (backend === "tensorflow") {
          expect(ops.filter((name) => name === "MedfmGelu")).toHaveLength(4);
          expect(ops.filter((name) => name === "MedfmGeluGrad")).toHaveLength(2);
        } else {
          expect(ops).toEqual([]);
        }
      } finally {
        native.restore();
      }
    });
  }
});
