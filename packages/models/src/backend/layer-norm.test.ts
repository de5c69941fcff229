import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { recordNativeOps } from "./__fixtures__/native-op-recorder";
import { backends, env, maxDifference, nativePackage, normal } from "./__fixtures__/test-backends";
import { MedfmLayerNorm } from "./kernel-names";
import { runMedfmKernel } from "./kernel-registry";
import { layerNormComposite } from "./portable/layer-norm";
import { selectBackend } from "./select-backend";

/** What tfjs's autodiff gives for the composite: the reference for the kernel's own gradient. */
function compositeGradients(
  x: tf.Tensor,
  scale: tf.Tensor,
  offset: tf.Tensor,
  upstream: tf.Tensor,
  epsilon: number,
): tf.Tensor[] {
  return tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
    tf.sum(tf.mul(layerNormComposite(a, s, o, epsilon), upstream)),
  )([x, scale, offset]);
}

describe("MedfmLayerNorm: nn.LayerNorm over the last axis in one kernel", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  for (const backend of backends) {
    it(`equals the composite, values and gradients, for ViT and Swin shapes on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      // Tokens as ViT holds them (2-D after a reshape, 3-D), Swin's 4-D feature maps; inputs off
      // zero and spread, as the residual stream is, and timm's, HF ViT's and CLIP's epsilons.
      const cases = [
        { shape: [30, 24], epsilon: 1e-6 },
        { shape: [2, 17, 40], epsilon: 1e-12 },
        { shape: [2, 4, 6, 16], epsilon: 1e-5 },
        // ViT-S's stream at batch 4 (the native gradient splits its rows between threads).
        { shape: [4, 50, 384], epsilon: 1e-6 },
      ];
      const native = recordNativeOps();
      try {
        for (const [index, { shape, epsilon }] of cases.entries()) {
          const channels = shape[shape.length - 1] as number;
          const x = normal(shape, `ln-x${index}`, 3, 1.5);
          const scale = normal([channels], `ln-s${index}`, 0.5, 1);
          const offset = normal([channels], `ln-o${index}`, 0.2);
          const kernel = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
            runMedfmKernel(MedfmLayerNorm, { x: a, scale: s, offset: o }, { epsilon }) as tf.Tensor;
          const y = kernel(x, scale, offset);
          const expected = layerNormComposite(x, scale, offset, epsilon);
          expect(y.shape).toEqual(shape);
          expect(maxDifference(y, expected)).toBeLessThan(1e-5);
          // Normalised for real: each row of (y − offset)/scale has mean 0 and variance 1.
          const row = tf.tidy(() => tf.div(tf.sub(y, offset), scale));
          const moments = tf.moments(row, row.rank - 1);
          expect(tf.max(tf.abs(moments.mean)).dataSync()[0]).toBeLessThan(1e-4);
          expect(tf.max(tf.abs(tf.sub(moments.variance, 1))).dataSync()[0]).toBeLessThan(1e-3);

          const upstream = normal(shape, `ln-dy${index}`);
          const ours = tf.grads((a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
            tf.sum(tf.mul(kernel(a, s, o), upstream)),
          )([x, scale, offset]);
          const reference = compositeGradients(x, scale, offset, upstream, epsilon);
          ours.forEach((gradient, input) => {
            const want = reference[input] as tf.Tensor;
            expect(gradient.shape).toEqual(want.shape);
            // Relative to the gradient's size (the scale's sums run over up to 96 rows).
            const size = tf.max(tf.abs(want)).dataSync()[0] ?? 1;
            expect(maxDifference(gradient, want) / size).toBeLessThan(1e-4);
          });
          tf.dispose([x, scale, offset, y, expected, row, moments.mean, moments.variance]);
          tf.dispose([upstream, ...ours, ...reference]);
        }
        const ops = native.names();
        if (backend === "tensorflow") {
          // oneDNN's kernel ran once per forward (the 4-D case around a reshape to 2-D), ours
          // once per input gradient.
          expect(ops.filter((name) => name === "_MklLayerNorm")).toHaveLength(2 * cases.length);
          expect(ops.filter((name) => name === "MedfmLayerNormGrad")).toHaveLength(cases.length);
        } else {
          expect(ops).toEqual([]);
        }
      } finally {
        native.restore();
      }
    });
  }
});

describe("Softmax on oneDNN (the tensorflow backend)", () => {
  it.skipIf(nativePackage === undefined)(
    "gives tfjs-node's values and gradients for attention-score shapes, through _MklSoftmax",
    async () => {
      await selectBackend({ backend: "tensorflow", env, log: () => {} });
      const native = recordNativeOps();
      try {
        for (const [index, shape] of [
          [5, 9],
          [2, 3, 7, 7],
          [3, 2, 4, 5, 5],
        ].entries()) {
          const logits = normal(shape, `softmax-x${index}`, 4);
          const upstream = normal(shape, `softmax-dy${index}`);
          const [y, dx] = tf.tidy(() => {
            const f = (a: tf.Tensor) => tf.sum(tf.mul(tf.softmax(a), upstream));
            return [tf.softmax(logits), tf.grad(f)(logits)];
          });
          // tfjs-node's kernel, run by name: TensorFlow's own `Softmax`.
          const backend = tf.backend() as unknown as {
            executeSingleOutput(name: string, attrs: unknown[], inputs: tf.Tensor[]): tf.Tensor;
            binding: { TF_ATTR_TYPE: number; TF_FLOAT: number };
          };
          const expected = backend.executeSingleOutput(
            "Softmax",
            [{ name: "T", type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_FLOAT }],
            [logits],
          );
          const expectedDx = tf.tidy(() =>
            tf.mul(expected, tf.sub(upstream, tf.sum(tf.mul(upstream, expected), -1, true))),
          );
          expect((y as tf.Tensor).shape).toEqual(shape);
          expect(maxDifference(y as tf.Tensor, expected)).toBeLessThan(1e-6);
          expect(maxDifference(dx as tf.Tensor, expectedDx)).toBeLessThan(1e-5);
          tf.dispose([logits, upstream, y as tf.Tensor, dx as tf.Tensor, expected, expectedDx]);
        }
        const ops = native.names();
        expect(ops.filter((name) => name === "_MklSoftmax").length).toBeGreaterThanOrEqual(6);
      } finally {
        native.restore();
        await tf.setBackend("cpu");
      }
    },
  );
});
