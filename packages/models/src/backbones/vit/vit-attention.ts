import * as tf from "@tensorflow/tfjs";
import { scaledSoftmax } from "../transformer/activations";
import { addLinear, applyLinear, type Linear } from "../transformer/linear";
import type { ParameterStore } from "../transformer/parameter-store";

/**
 * Multi-head self-attention as timm's `Attention` (fused `qkv`, `softmax(q·scale @ kᵀ) @ v`,
 * `proj`; no q/k norm). Keys `{key}.qkv.*`, `{key}.proj.*`.
 */
export class VitAttention {
  /** Heads. */
  readonly numHeads: number;
  /** Channels per head. */
  readonly headDim: number;
  /** Fused query/key/value projection, `[dim, 3·dim]`. */
  readonly qkv: Linear;
  /** Output projection, `[dim, dim]`. */
  readonly proj: Linear;
  private readonly scale: number;

  constructor(
    store: ParameterStore,
    key: string,
    dim: number,
    numHeads: number,
    qkvBias: boolean,
    stage: number,
  ) {
    this.numHeads = numHeads;
    this.headDim = dim / numHeads;
    this.scale = this.headDim ** -0.5;
    this.qkv = store.linear(`${key}.qkv`, dim, 3 * dim, stage, qkvBias);
    this.proj = store.linear(`${key}.proj`, dim, dim, stage);
  }

  /**
   * Attention over the tokens of `x`, `[B, T, dim]`; with `residual` (the output's shape),
   * `residual` plus the attention, the sum in the projection's kernel. With `queries` (Q < T),
   * only the first Q tokens attend (to all T) and the output is theirs, `[B, Q, dim]`: the same
   * values as those rows of the full output.
   */
  apply(x: tf.Tensor3D, residual?: tf.Tensor3D, queries?: number): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, tokens, dim] = x.shape;
      const rows = queries ?? tokens;
      const qkv = tf.transpose(
        tf.reshape(applyLinear(x, this.qkv), [batch, tokens, 3, this.numHeads, this.headDim]),
        [2, 0, 3, 1, 4],
      );
      const [allQueries, key, value] = tf
        .split(qkv, 3, 0)
        .map((part) => tf.reshape(part, [batch, this.numHeads, tokens, this.headDim]));
      const query =
        rows < tokens ? tf.slice(allQueries, [0, 0, 0, 0], [-1, -1, rows, -1]) : allQueries;
      // The scale on q (under a third of the logits' size) and an unscaled softmax kernel: on the
      // native backend oneDNN's softmax forward beats ours with the scale folded in, and our
      // gradient kernel replaces tfjs's four ops.
      const attention = scaledSoftmax(tf.matMul(tf.mul(query, this.scale), key, false, true), 1);
      const context = tf.transpose(tf.matMul(attention, value), [0, 2, 1, 3]);
      const merged = tf.reshape(context, [batch, rows, dim]) as tf.Tensor3D;
      return residual === undefined
        ? applyLinear(merged, this.proj)
        : addLinear(residual, merged, this.proj);
    });
  }
}
