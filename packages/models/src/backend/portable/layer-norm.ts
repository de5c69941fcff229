import * as tf from "@tensorflow/tfjs";
import { type LayerNormAttrs, MedfmLayerNorm, MedfmLayerNormGrad } from "../kernel-names";

/**
 * Layer norm over the last axis as tfjs ops (`mean`, `sub`, `square`, `rsqrt`, `mul`, `add`):
 * biased variance, `epsilon` inside the square root, as torch's `nn.LayerNorm`.
 */
export function layerNormComposite(
  x: tf.Tensor,
  scale: tf.Tensor,
  offset: tf.Tensor,
  epsilon: number,
): tf.Tensor {
  return tf.tidy(() => tf.add(tf.mul(layerNormStatistics(x, epsilon).normalised, scale), offset));
}

/**
 * `x̂ = (x − μ)·r` and `r = 1/√(σ² + ε)` over the last axis: the composite's normalisation, and
 * what the gradients recompute from `x`.
 */
export function layerNormStatistics(
  x: tf.Tensor,
  epsilon: number,
): { normalised: tf.Tensor; reciprocal: tf.Tensor } {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const centred = tf.sub(x, tf.mean(x, axis, true));
    const reciprocal = tf.rsqrt(tf.add(tf.mean(tf.square(centred), axis, true), epsilon));
    return { normalised: tf.mul(centred, reciprocal), reciprocal };
  });
}

/** {@link MedfmLayerNormGrad} as tfjs ops: `r·(g − mean(g) − x̂·mean(g·x̂))`, `g = dy·scale`. */
export function layerNormInputGrad(
  dy: tf.Tensor,
  x: tf.Tensor,
  scale: tf.Tensor,
  epsilon: number,
): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const { normalised, reciprocal } = layerNormStatistics(x, epsilon);
    const g = tf.mul(dy, scale);
    const meanG = tf.mean(g, axis, true);
    const meanGx = tf.mean(tf.mul(g, normalised), axis, true);
    return tf.mul(reciprocal, tf.sub(tf.sub(g, meanG), tf.mul(normalised, meanGx)));
  });
}

/** {@link MedfmLayerNorm} as {@link layerNormComposite}. Runs on any backend. */
export function portableLayerNorm(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmLayerNorm,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { x, scale, offset } = inputs as Record<string, tf.Tensor>;
      const { epsilon } = attrs as unknown as LayerNormAttrs;
      return layerNormComposite(x as tf.Tensor, scale as tf.Tensor, offset as tf.Tensor, epsilon);
    },
  };
}

/** {@link MedfmLayerNormGrad} as {@link layerNormInputGrad}. Runs on any backend. */
export function portableLayerNormGrad(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmLayerNormGrad,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { dy, x, scale } = inputs as Record<string, tf.Tensor>;
      const { epsilon } = attrs as unknown as LayerNormAttrs;
      return layerNormInputGrad(dy as tf.Tensor, x as tf.Tensor, scale as tf.Tensor, epsilon);
    },
  };
}
