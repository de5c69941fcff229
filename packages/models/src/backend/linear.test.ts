import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it, vi } from "vitest";
import { applyLinear } from "../backbones/transformer/linear";
import { recordNativeOps } from "./__fixtures__/native-op-recorder";
import { backends, env, maxDifference, normal } from "./__fixtures__/test-backends";
import { exactGelu } from "./exact-gelu";
import { MedfmLinear } from "./kernel-names";
import { runMedfmKernel } from "./kernel-registry";
import { selectBackend } from "./select-backend";

describe("MedfmLinear: activation(x·weight + bias) in one kernel", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  for (const backend of backends) {
    it(`equals matMul, add and the GELU composite, values and gradients, on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      // A ViT-like shape: 50 tokens of 24 channels to 40, weights at a trained scale.
      const x = normal([50, 24], "linear-x") as tf.Tensor2D;
      const weight = tf.variable(normal([24, 40], "linear-w", 0.2) as tf.Tensor2D);
      const bias = tf.variable(normal([40], "linear-b", 0.1) as tf.Tensor1D);
      try {
        const composite = (activation: "none" | "gelu") =>
          tf.tidy(() => {
            const z = tf.add(tf.matMul(x, weight), bias);
            return activation === "gelu" ? exactGelu(z) : z;
          });
        const native = recordNativeOps();
        for (const activation of ["none", "gelu"] as const) {
          const fused = runMedfmKernel(
            MedfmLinear,
            { x, weight, bias },
            { activation },
          ) as tf.Tensor;
          const expected = composite(activation);
          expect(fused.shape).toEqual([50, 40]);
          expect(maxDifference(fused, expected)).toBeLessThan(2e-5);
          tf.dispose([fused, expected]);

          // Gradients of every input against tfjs's autodiff of the composite.
          const upstream = normal([50, 40], `linear-dy-${activation}`);
          const loss = (f: () => tf.Tensor) => () => tf.sum(tf.mul(f(), upstream)) as tf.Scalar;
          const ours = tf.grads((a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
            loss(
              () =>
                runMedfmKernel(
                  MedfmLinear,
                  { x: a, weight: w, bias: b },
                  { activation },
                ) as tf.Tensor,
            )(),
          )([x, weight, bias]);
          const reference = tf.grads((a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) =>
            loss(() => {
              const z = tf.add(tf.matMul(a as tf.Tensor2D, w as tf.Tensor2D), b);
              return activation === "gelu" ? exactGelu(z) : z;
            })(),
          )([x, weight, bias]);
          ours.forEach((gradient, index) => {
            const expectedGradient = reference[index] as tf.Tensor;
            expect(gradient.shape).toEqual(expectedGradient.shape);
            expect(maxDifference(gradient, expectedGradient)).toBeLessThan(1e-4);
          });
          tf.dispose([...ours, ...reference, upstream]);
        }
        const ops = native.names();
        native.restore();
        if (backend === "tensorflow") {
          // oneDNN's fused inner product did the work (a binding that passes string lists).
          expect(ops).toContain("_MklNativeFusedMatMul");
        } else {
          expect(ops).toEqual([]);
        }
      } finally {
        tf.dispose([x, weight, bias]);
      }
    });
  }

  for (const backend of backends) {
    it(`adds a residual inside the kernel, values and gradients, on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      // A transformer block's fc2: 50 tokens of 64 hidden channels back to 24, plus the stream.
      const x = normal([50, 64], "linear-res-x") as tf.Tensor2D;
      const weight = tf.variable(normal([64, 24], "linear-res-w", 0.2) as tf.Tensor2D);
      const bias = tf.variable(normal([24], "linear-res-b", 0.1) as tf.Tensor1D);
      const residual = normal([50, 24], "linear-res-r", 2) as tf.Tensor2D;
      const upstream = normal([50, 24], "linear-res-dy");
      const native = recordNativeOps();
      try {
        const kernel = (a: tf.Tensor, w: tf.Tensor, b: tf.Tensor, r: tf.Tensor) =>
          runMedfmKernel(
            MedfmLinear,
            { x: a, weight: w, bias: b, residual: r },
            { activation: "none" },
          ) as tf.Tensor;
        const reference = (a: tf.Tensor, w: tf.Tensor, b: tf.Tensor, r: tf.Tensor) =>
          tf.add(tf.add(tf.matMul(a as tf.Tensor2D, w as tf.Tensor2D), b), r);
        const y = kernel(x, weight, bias, residual);
        const expected = reference(x, weight, bias, residual);
        expect(maxDifference(y, expected)).toBeLessThan(2e-5);
        const loss =
          (f: typeof kernel) => (a: tf.Tensor, w: tf.Tensor, b: tf.Tensor, r: tf.Tensor) =>
            tf.sum(tf.mul(f(a, w, b, r), upstream));
        const ours = tf.grads(loss(kernel))([x, weight, bias, residual]);
        const theirs = tf.grads(loss(reference))([x, weight, bias, residual]);
        ours.forEach((gradient, index) => {
          expect(maxDifference(gradient, theirs[index] as tf.Tensor)).toBeLessThan(1e-4);
        });
        // The residual's gradient is the upstream one, unchanged.
        expect(maxDifference(ours[3] as tf.Tensor, upstream)).toBe(0);
        expect(() =>
          runMedfmKernel(MedfmLinear, { x, weight, bias, residual }, { activation: "gelu" }),
        ).toThrow(/residual goes with activation "none"/);
        const ops = native.names();
        if (backend === "tensorflow") {
          // The forward passes ran as one oneDNN op each, without a separate addition.
          expect(ops.filter((name) => name === "_MklNativeFusedMatMul")).toHaveLength(2);
          expect(ops.slice(0, 1)).toEqual(["_MklNativeFusedMatMul"]);
        }
        tf.dispose([y, expected, ...ours, ...theirs]);
      } finally {
        native.restore();
        tf.dispose([x, weight, bias, residual, upstream]);
      }
    });
  }

  it("applyLinear fuses the GELU outside gradient recording and keeps the composite inside", async () => {
    await selectBackend({ backend: "cpu", log: () => {} });
    const x = normal([2, 5, 6], "apply-x") as tf.Tensor3D;
    const layer = {
      weight: tf.variable(normal([6, 4], "apply-w", 0.3) as tf.Tensor2D),
      bias: tf.variable(normal([4], "apply-b", 0.1) as tf.Tensor1D),
    };
    const kernels = vi.spyOn(tf.engine(), "runKernel");
    const seen = () =>
      kernels.mock.calls
        .filter((call) => call[0] === MedfmLinear)
        .map((call) => (call[2] as { activation: string }).activation);
    const inference = applyLinear(x, layer, "gelu");
    expect(inference.shape).toEqual([2, 5, 4]);
    expect(seen()).toEqual(["gelu"]);
    kernels.mockClear();
    const { value, grads } = tf.variableGrads(
      () => tf.sum(applyLinear(x, layer, "gelu")) as tf.Scalar,
      [layer.weight, layer.bias],
    );
    expect(seen()).toEqual(["none"]);
    kernels.mockRestore();
    const expected = tf.tidy(() =>
      exactGelu(tf.add(tf.matMul(tf.reshape(x, [10, 6]) as tf.Tensor2D, layer.weight), layer.bias)),
    );
    expect(maxDifference(tf.reshape(inference, [10, 4]), expected)).toBeLessThan(1e-6);
    expect(value.dataSync()[0]).toBeCloseTo(tf.sum(expected).dataSync()[0] ?? Number.NaN, 4);
    tf.dispose([x, layer.weight, layer.bias, inference, value, expected, ...Object.values(grads)]);
  });
});
