import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { scaledSoftmax } from "../backbones/transformer/activations";
import { recordNativeOps } from "./__fixtures__/native-op-recorder";
import { backends, env, maxDifference, normal } from "./__fixtures__/test-backends";
import { scaledSoftmaxComposite } from "./portable/scaled-softmax";
import { selectBackend } from "./select-backend";

/** softmax(scale·row) and its gradient, `scale·y·(dy − Σ dy·y)`, in double precision. */
function referenceRow(
  row: ArrayLike<number>,
  dy: ArrayLike<number>,
  scale: number,
): { y: number[]; dx: number[] } {
  const z = Array.from(row, (value) => value * scale);
  const top = Math.max(...z);
  const exps = z.map((value) => Math.exp(value - top));
  const total = exps.reduce((a, b) => a + b, 0);
  const y = exps.map((value) => value / total);
  const dot = y.reduce((sum, value, index) => sum + value * (dy[index] ?? 0), 0);
  return { y, dx: y.map((value, index) => scale * value * ((dy[index] ?? 0) - dot)) };
}

describe("MedfmScaledSoftmax: attention's softmax(scale·logits) and its gradient as kernels", () => {
  afterAll(async () => {
    await tf.setBackend("cpu");
  });

  for (const backend of backends) {
    it(`matches double precision and tfjs's autodiff of the composite on ${backend}`, async () => {
      await selectBackend({ backend, env, log: () => {} });
      const native = recordNativeOps();
      try {
        // Attention logits of ViT-S at batch 2 (6 heads, 207 tokens: split between threads),
        // large logits (a row dominated by one value), rows of 1 and 19 values, a masked row, and
        // a negative scale (its largest scaled logit comes from the smallest logit) over 13 values.
        const cases: Array<[tf.Tensor, number]> = [
          [normal([2, 6, 207, 207], "softmax-attention", 8), 0.125],
          [normal([5, 19], "softmax-large", 40), 1],
          [normal([3, 1], "softmax-single"), 0.5],
          [tf.tensor2d([0.5, Number.NEGATIVE_INFINITY, 2, -1], [1, 4]), 2],
          [normal([4, 13], "softmax-negative", 3), -0.7],
        ];
        for (const [logits, scale] of cases) {
          const before = logits.dataSync().slice();
          const y = scaledSoftmax(logits, scale);
          expect(y.shape).toEqual(logits.shape);
          expect(maxDifference(y, scaledSoftmaxComposite(logits, scale))).toBeLessThan(1e-6);
          const upstream = normal(logits.shape, `softmax-dy-${logits.size}`);
          const ours = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(scaledSoftmax(a, scale), upstream)))(
            logits,
          );
          const theirs = tf.grad((a: tf.Tensor) =>
            tf.sum(tf.mul(scaledSoftmaxComposite(a, scale), upstream)),
          )(logits);
          expect(maxDifference(ours, theirs)).toBeLessThan(1e-6);
          // Row by row against double precision.
          const width = logits.shape[logits.rank - 1] as number;
          const values = y.dataSync();
          const gradients = ours.dataSync();
          const dy = upstream.dataSync();
          let worst = 0;
          for (let start = 0; start < before.length; start += width) {
            const reference = referenceRow(
              before.subarray(start, start + width),
              dy.subarray(start, start + width),
              scale,
            );
            reference.y.forEach((value, index) => {
              worst = Math.max(
                worst,
                Math.abs((values[start + index] ?? Number.NaN) - value),
                Math.abs((gradients[start + index] ?? Number.NaN) - (reference.dx[index] ?? 0)),
              );
            });
          }
          expect(worst).toBeLessThan(1e-6);
          // The input is not overwritten.
          expect(Array.from(logits.dataSync())).toEqual(Array.from(before));
          tf.dispose([logits, y, upstream, ours, theirs]);
        }
        const ops = native.names();
        if (backend === "tensorflow") {
          // Each case: the kernel outside and under the tape, then its gradient kernel (the
          // composite runs tfjs's Softmax); the unscaled forward (scale 1) runs oneDNN's.
          expect(ops.filter((name) => name === "MedfmSoftmax")).toHaveLength(8);
          expect(ops.filter((name) => name === "MedfmSoftmaxGrad")).toHaveLength(5);
        } else {
          expect(ops).toEqual([]);
        }
      } finally {
        native.restore();
      }
    });
  }
});
