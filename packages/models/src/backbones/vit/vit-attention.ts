import * as tf from "@tensorflow/tfjs";
import { MedfmAttention } from "../../backend/kernel-names";
import { runMedfmKernel } from "../../backend/kernel-registry";
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
      // One kernel from the fused projection to the merged heads (ours on the native backend,
      // timm's ops elsewhere); its second output, the probabilities, is the gradient's.
      const [merged] = runMedfmKernel(
        MedfmAttention,
        { qkv: tf.reshape(applyLinear(x, this.qkv), [batch, tokens, 3 * dim]) },
        { heads: this.numHeads, queries: rows < tokens ? rows : 0, scale: this.scale },
      ) as [tf.Tensor3D, tf.Tensor4D];
      return residual === undefined
        ? applyLinear(merged, this.proj)
        : addLinear(residual, merged, this.proj);
    });
  }
}
