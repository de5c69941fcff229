import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import { recordNativeOps } from "./__fixtures__/native-op-recorder";
import { backends, env, normal, relativeDifference } from "./__fixtures__/test-backends";
import { MedfmAttention, MedfmAttentionGrad } from "./kernel-names";
import { runMedfmKernel } from "./kernel-registry";
import { attentionComposite, attentionGradComposite } from "./portable/attention";
import { selectBackend } from "./select-backend";

// The kernel (ours on tensorflow) against the composite of timm's ops and its tfjs autodiff, with
// 64 channels per head (the vector path, 197 tokens as in ViT-S/16 at 224 plus partial blocks)
// and 3 (the plain loops), all queries and the first few (the CLS readout).
const cases = [
  { batch: 2, tokens: 197, heads: 2, depth: 64, queries: 0 },
  { batch: 2, tokens: 21, heads: 3, depth: 64, queries: 5 },
  { batch: 1, tokens: 7, heads: 2, depth: 3, queries: 0 },
  { batch: 2, tokens: 9, heads: 1, depth: 8, queries: 1 },
];

describe.each(backends)("MedfmAttention on %s", (backend) => {
  afterAll(() => tf.disposeVariables());

  it.each(cases)("equals timm's ops forward and backward: %o", async (shape) => {
    await selectBackend({ backend, env, log: () => {} });
    const { batch, tokens, heads, depth, queries } = shape;
    const attrs = { heads, queries, scale: depth ** -0.5 };
    const qkv = normal([batch, tokens, 3 * heads * depth], `qkv-${tokens}-${depth}`, 1.5);
    const rows = queries === 0 ? tokens : queries;
    const weights = normal([rows, heads * depth], `w-${tokens}-${depth}`);
    const [context, probabilities] = runMedfmKernel(MedfmAttention, { qkv }, attrs) as tf.Tensor[];
    const [expected, expectedProbabilities] = attentionComposite(qkv, attrs);
    expect(context?.shape).toEqual([batch, rows, heads * depth]);
    expect(probabilities?.shape).toEqual([batch, heads, rows, tokens]);
    expect(relativeDifference(context as tf.Tensor, expected)).toBeLessThan(1e-5);
    expect(relativeDifference(probabilities as tf.Tensor, expectedProbabilities)).toBeLessThan(
      1e-5,
    );
    // Rows of probabilities sum to 1.
    const sums = tf.sum(probabilities as tf.Tensor, -1).dataSync();
    for (const sum of sums) expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
    // A loss of both outputs, so that the probabilities' gradient is not zero.
    const probabilityWeights = normal([batch, heads, rows, tokens], `pw-${tokens}-${depth}`, 3);
    const loss = ([out, probs]: tf.Tensor[]) =>
      tf.add(
        tf.sum(tf.mul(out as tf.Tensor, weights)),
        tf.sum(tf.mul(probs as tf.Tensor, probabilityWeights)),
      ) as tf.Scalar;
    const native = recordNativeOps();
    let ours: tf.Tensor;
    try {
      ours = tf.grad((x: tf.Tensor) =>
        loss(runMedfmKernel(MedfmAttention, { qkv: x }, attrs) as tf.Tensor[]),
      )(qkv);
      // The gradient is one kernel: ours on tensorflow (beside the loss's ops), no product.
      const ops = native.names();
      if (backend === "tensorflow") {
        expect(ops.filter((name) => name.startsWith("Medfm")).sort()).toEqual([
          "MedfmAttention",
          "MedfmAttentionGrad",
        ]);
        expect(ops).not.toContain("BatchMatMulV2");
      } else {
        expect(ops).toEqual([]);
      }
    } finally {
      native.restore();
    }
    const reference = tf.grad((x: tf.Tensor) => loss(attentionComposite(x, attrs)))(qkv);
    expect(relativeDifference(ours, reference)).toBeLessThan(1e-5);
    if (queries > 0) {
      // Queries past `queries` get no gradient; their keys and values do.
      const tail = tf.slice(ours, [0, queries, 0], [-1, -1, heads * depth]);
      expect(tf.max(tf.abs(tail)).dataSync()[0]).toBe(0);
    }
  });

  it("names the shape at fault", async () => {
    await selectBackend({ backend, env, log: () => {} });
    const qkv = tf.zeros([2, 5, 10]);
    expect(() =>
      runMedfmKernel(MedfmAttention, { qkv }, { heads: 2, queries: 0, scale: 1 }),
    ).toThrow(/MedfmAttention: qkv \[2, 5, 10\] with heads 2/);
    const valid = tf.zeros([2, 5, 12]);
    const inputs = {
      qkv: valid,
      probabilities: tf.zeros([2, 2, 5, 5]),
      dContext: tf.zeros([2, 4, 4]),
      dProbabilities: tf.zeros([2, 2, 5, 5]),
    };
    const message = /MedfmAttentionGrad: .*dContext \[2, 4, 4\]/;
    expect(() =>
      runMedfmKernel(MedfmAttentionGrad, inputs, { heads: 2, queries: 0, scale: 1 }),
    ).toThrow(message);
    expect(() =>
      attentionGradComposite(
        inputs.qkv,
        inputs.probabilities,
        inputs.dContext,
        inputs.dProbabilities,
        {
          heads: 2,
          queries: 0,
          scale: 1,
        },
      ),
    ).toThrow(message);
  });
});
