import * as tf from "@tensorflow/tfjs";
import { type LayerNormAttrs, MedfmLayerNorm, MedfmLayerNormGrad } from "./kernel-names";
import { layerNormStatistics } from "./portable/layer-norm";

/**
 * The gradient of {@link MedfmLayerNorm}, one config for every backend: `dx` from the
 * {@link MedfmLayerNormGrad} kernel (one native op on the tensorflow backend), and with
 * `x̂ = (x − μ)·r` recomputed from `x`, `dscale = Σ dy·x̂` and `doffset = Σ dy` over every axis
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
    const leading = [...Array(x.rank - 1).keys()];
    return {
      x: () =>
        tf
          .engine()
          .runKernel(MedfmLayerNormGrad, { dy: upstream, x, scale }, { epsilon }) as tf.Tensor,
      scale: () => tf.sum(tf.mul(upstream, layerNormStatistics(x, epsilon).normalised), leading),
      offset: () => tf.sum(upstream, leading),
    };
  },
};
