import * as tf from "@tensorflow/tfjs";
import { applyLayerNorm, type LayerNorm } from "../transformer/layer-norm";
import { applyLinear, type Linear } from "../transformer/linear";
import type { ParameterStore } from "../transformer/parameter-store";

/**
 * timm's `PatchMerging`: pads the map to even sides (zeros at the bottom and right), concatenates
 * each 2×2 neighbourhood's channels in timm's order (top-left, bottom-left, top-right,
 * bottom-right), normalises the 4C channels and reduces them to `outDim` without bias.
 * Keys: `<key>.norm.*`, `<key>.reduction.weight`.
 */
export class PatchMerging {
  /** LayerNorm over the 4C concatenated channels. */
  readonly norm: LayerNorm;
  /** Linear `4C → outDim`, no bias. */
  readonly reduction: Linear;

  constructor(store: ParameterStore, key: string, dim: number, outDim: number, stage: number) {
    this.norm = store.layerNorm(`${key}.norm`, 4 * dim, stage);
    this.reduction = store.linear(`${key}.reduction`, 4 * dim, outDim, stage, false);
  }

  /** `[B, H, W, C]` → `[B, ⌈H/2⌉, ⌈W/2⌉, outDim]`. */
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [batch, height, width, channels] = x.shape;
      const padded =
        height % 2 === 0 && width % 2 === 0
          ? x
          : tf.pad(x, [
              [0, 0],
              [0, height % 2],
              [0, width % 2],
              [0, 0],
            ]);
      const halfHeight = (height + (height % 2)) / 2;
      const halfWidth = (width + (width % 2)) / 2;
      // torch: reshape(B, H/2, 2, W/2, 2, C).permute(0, 1, 3, 4, 2, 5).flatten(3), at rank 5.
      const neighbourhoods = tf.transpose(
        tf.reshape(padded, [batch * halfHeight, 2, halfWidth, 2, channels]),
        [0, 2, 3, 1, 4],
      );
      const merged = tf.reshape(neighbourhoods, [batch, halfHeight, halfWidth, 4 * channels]);
      return applyLinear(applyLayerNorm(merged as tf.Tensor4D, this.norm), this.reduction);
    });
  }

  /**
   * Prompt tokens `[B, N, C]` → `[B, N, outDim]`: each token's channels repeated four times (as
   * MedFM's `PromptedPatchMerging.upsample_prompt`), then the same norm and reduction.
   */
  applyToTokens(tokens: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const repeated = tf.concat([tokens, tokens, tokens, tokens], 2) as tf.Tensor3D;
      return applyLinear(applyLayerNorm(repeated, this.norm), this.reduction);
    });
  }
}
