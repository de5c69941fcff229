import * as tf from "@tensorflow/tfjs";
import { applyLinear, type Linear } from "../transformer/linear";
import { truncatedNormal } from "../transformer/parameter-initialisers";
import type { ParameterStore } from "../transformer/parameter-store";
import type { Size2 } from "./swin-windows";

/** Arguments of {@link WindowAttention}, as timm's `WindowAttention.__init__`. */
export interface WindowAttentionArgs {
  /** timm key prefix, e.g. `layers.0.blocks.1.attn`. */
  key: string;
  /** Channels of the tokens. */
  dim: number;
  /** Attention heads. */
  numHeads: number;
  /** Channels per head (timm `head_dim`; default `dim / numHeads`). */
  headDim?: number;
  /** Window height and width: the relative position bias table has `(2wh−1)·(2ww−1)` rows. */
  window: Size2;
  /** Bias on the fused qkv projection (timm `qkv_bias`, default true). */
  qkvBias: boolean;
  /** Stage for freezing. */
  stage: number;
}

/**
 * Window multi-head self-attention with a relative position bias, as timm's `WindowAttention`
 * (its non-fused path: `softmax(q·scale @ kᵀ + bias + mask) @ v`, then `proj`).
 * Keys: `relative_position_bias_table` `[(2wh−1)(2ww−1), heads]`, `qkv.*`, `proj.*`.
 */
export class WindowAttention {
  /** Heads. */
  readonly numHeads: number;
  /** Channels per head. */
  readonly headDim: number;
  /** The window the table and index are sized for. */
  readonly window: Size2;
  /** The relative position bias table, `[(2wh−1)(2ww−1), heads]`. */
  readonly relativePositionBiasTable: tf.Variable<tf.Rank.R2>;
  /** Fused query/key/value projection, `[dim, 3·heads·headDim]`. */
  readonly qkv: Linear;
  /** Output projection, `[heads·headDim, dim]`. */
  readonly proj: Linear;
  private readonly scale: number;

  constructor(store: ParameterStore, args: WindowAttentionArgs) {
    this.numHeads = args.numHeads;
    this.headDim = args.headDim ?? Math.floor(args.dim / args.numHeads);
    this.window = args.window;
    this.scale = this.headDim ** -0.5;
    const attentionDim = this.numHeads * this.headDim;
    const tableRows = (2 * args.window[0] - 1) * (2 * args.window[1] - 1);
    this.relativePositionBiasTable = store.add(
      `${args.key}.relative_position_bias_table`,
      [tableRows, args.numHeads],
      args.stage,
      truncatedNormal(0.02),
    ) as tf.Variable<tf.Rank.R2>;
    this.qkv = store.linear(
      `${args.key}.qkv`,
      args.dim,
      3 * attentionDim,
      args.stage,
      args.qkvBias,
    );
    this.proj = store.linear(`${args.key}.proj`, attentionDim, args.dim, args.stage);
  }

  /**
   * The bias `[1, heads, N, N]` (N = wh·ww) looked up from the table: timm's `_get_rel_pos_bias`,
   * with the index given as its one-hot matrix ({@link relativePositionOneHot}).
   */
  relativePositionBias(oneHotIndex: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => {
      const area = this.window[0] * this.window[1];
      const bias = tf.matMul(oneHotIndex, this.relativePositionBiasTable);
      return tf.reshape(tf.transpose(tf.reshape(bias, [area, area, this.numHeads]), [2, 0, 1]), [
        1,
        this.numHeads,
        area,
        area,
      ]) as tf.Tensor4D;
    });
  }

  /**
   * Attention inside windows. `windows` is `[B·nW, N, C]`; `oneHotIndex` the window's relative
   * position one-hot; `mask` the shifted-window mask tiled over heads, `[1, nW·heads, N, N]`
   * (nW windows per image), or undefined for unshifted windows; `prompts`: how many of each
   * window's N tokens lead it as prompt tokens (MedFM's prompted window attention), default 0.
   */
  apply(
    windows: tf.Tensor3D,
    oneHotIndex: tf.Tensor2D,
    mask: tf.Tensor4D | undefined,
    prompts = 0,
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const [count, tokens] = windows.shape;
      // Prompt tokens lead each window: no relative position, never masked (zero bias).
      const padForPrompts = (tensor: tf.Tensor4D): tf.Tensor4D =>
        prompts === 0
          ? tensor
          : tf.pad(tensor, [
              [0, 0],
              [0, 0],
              [prompts, 0],
              [prompts, 0],
            ]);
      const qkv = tf.transpose(
        tf.reshape(applyLinear(windows, this.qkv), [count, tokens, 3, this.numHeads, this.headDim]),
        [2, 0, 3, 1, 4],
      );
      const [query, key, value] = tf
        .split(qkv, 3, 0)
        .map((part) => tf.reshape(part, [count, this.numHeads, tokens, this.headDim]));
      let attention: tf.Tensor = tf.matMul(tf.mul(query, this.scale), key, false, true);
      attention = tf.add(attention, padForPrompts(this.relativePositionBias(oneHotIndex)));
      if (mask !== undefined) {
        const windowsPerImage = mask.shape[1] / this.numHeads;
        attention = tf.reshape(
          tf.add(
            tf.reshape(attention, [-1, windowsPerImage * this.numHeads, tokens, tokens]),
            padForPrompts(mask),
          ),
          [count, this.numHeads, tokens, tokens],
        );
      }
      const context = tf.matMul(tf.softmax(attention), value);
      const merged = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [
        count,
        tokens,
        this.numHeads * this.headDim,
      ]);
      return applyLinear(merged as tf.Tensor3D, this.proj);
    });
  }
}
