import * as tf from "@tensorflow/tfjs";
import { type LayerNormAttrs, MedfmLayerNorm } from "./kernel-names";

/**
 * The gradient of {@link MedfmLayerNorm}, one config for every backend. With `x̂ = (x − μ)·r`,
 * `r = 1/√(σ² + ε)` recomputed from `x` over its last axis, and `g = dy·scale`:
 * `dx = r·(g − mean(g) − x̂·mean(g·x̂))`, `dscale = Σ dy·x̂` and `doffset = Σ dy` over every axis
 * but the last. Only the gradients asked for are computed (a frozen norm in prompt tuning needs
 * `dx` alone).
 */
export const layerNormGradConfig: tf.GradConfig = {
  kernelName: MedfmLayerNorm,
  inputsToSave: ["x", "scale"],
  gradFunc: (dy, saved, attrs) => {
    const [x, scale] = saved as [tf.Tensor, tf.Tensor];
    const { epsilon } = attrs as unknown as LayerNormAttrs;
    const upstream = dy as tf.Tensor;
    const axis = x.rank - 1;
    const leading = [...Array(axis).keys()];
    // Recomputed per input gradient, not shared: tfjs runs each input's gradient function in its
    // own tidy, which would release a shared tensor after the first.
    const statistics = (): { normalised: tf.Tensor; reciprocal: tf.Tensor } => {
      const mean = tf.mean(x, axis, true);
      const centred = tf.sub(x, mean);
      const reciprocal = tf.rsqrt(tf.add(tf.mean(tf.square(centred), axis, true), epsilon));
      return { normalised: tf.mul(centred, reciprocal), reciprocal };
    };
    return {
      x: () => {
        const { normalised, reciprocal } = statistics();
        const g = tf.mul(upstream, scale);
        const meanG = tf.mean(g, axis, true);
        const meanGx = tf.mean(tf.mul(g, normalised), axis, true);
        return tf.mul(reciprocal, tf.sub(tf.sub(g, meanG), tf.mul(normalised, meanGx)));
      },
      scale: () => tf.sum(tf.mul(upstream, statistics().normalised), leading),
      offset: () => tf.sum(upstream, leading),
    };
  },
};
