import * as tf from "@tensorflow/tfjs";
import { type LayerNormAttrs, MedfmLayerNorm } from "../kernel-names";

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
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centred = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centred), axis, true);
    const normalised = tf.mul(centred, tf.rsqrt(tf.add(variance, epsilon)));
    return tf.add(tf.mul(normalised, scale), offset);
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
