import * as tf from "@tensorflow/tfjs";
import { type AttentionAttrs, MedfmAttention, MedfmScaledSoftmaxGrad } from "./kernel-names";
import { splitHeads } from "./portable/attention";

/**
 * The gradient of {@link MedfmAttention} in `qkv`, one config for every backend, from the saved
 * input and probabilities P: with dO the context's gradient per head,
 * `dv = Pᵀ·dO`, `dS = softmax′(dO·vᵀ + dP)` ({@link MedfmScaledSoftmaxGrad}, one native op on the
 * tensorflow backend), `dq = scale·dS·k` (zero for tokens past `queries`) and
 * `dk = scale·dSᵀ·q`, stacked back into qkv's layout.
 */
export const attentionGradConfig: tf.GradConfig = {
  kernelName: MedfmAttention,
  inputsToSave: ["qkv"],
  outputsToSave: [false, true],
  gradFunc: (dy, saved, attrs) => {
    const [qkv, probabilities] = saved as [tf.Tensor3D, tf.Tensor4D];
    const [dContext, dProbabilities] = (Array.isArray(dy) ? dy : [dy]) as [
      tf.Tensor,
      tf.Tensor | undefined,
    ];
    const { heads, scale } = attrs as unknown as AttentionAttrs;
    return {
      qkv: () =>
        tf.tidy(() => {
          const [batch, tokens, width] = qkv.shape;
          const depth = width / (3 * heads);
          const rows = probabilities.shape[2];
          const [query, key, value] = splitHeads(qkv, heads);
          const dOut = tf.transpose(
            tf.reshape(dContext, [batch, rows, heads, depth]),
            [0, 2, 1, 3],
          );
          const dValue = tf.matMul(probabilities, dOut, true, false);
          let dScores = tf.matMul(dOut, value, false, true);
          if (dProbabilities !== undefined) dScores = tf.add(dScores, dProbabilities);
          const dLogits = tf
            .engine()
            .runKernel(
              MedfmScaledSoftmaxGrad,
              { dy: dScores, y: probabilities },
              { scale: 1 },
            ) as tf.Tensor4D;
          const queryRows =
            rows < tokens ? tf.slice(query, [0, 0, 0, 0], [-1, -1, rows, -1]) : query;
          let dQuery = tf.mul(tf.matMul(dLogits, key), scale);
          if (rows < tokens) {
            dQuery = tf.pad(dQuery, [
              [0, 0],
              [0, 0],
              [0, tokens - rows],
              [0, 0],
            ]);
          }
          const dKey = tf.mul(tf.matMul(dLogits, queryRows, true, false), scale);
          const stacked = tf.stack([dQuery, dKey, dValue]); // [3, B, heads, T, D]
          return tf.reshape(tf.transpose(stacked, [1, 3, 0, 2, 4]), [batch, tokens, width]);
        }),
    };
  },
};
