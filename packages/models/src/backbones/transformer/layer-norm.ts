import * as tf from "@tensorflow/tfjs";

/** `nn.LayerNorm` parameters. */
export interface LayerNorm {
  /** Scale γ. */
  weight: tf.Variable<tf.Rank.R1>;
  /** Shift β. */
  bias: tf.Variable<tf.Rank.R1>;
}

/** `nn.LayerNorm` over the last axis: biased variance, eps inside the square root (torch's). */
export function applyLayerNorm<T extends tf.Tensor>(x: T, norm: LayerNorm, eps = 1e-5): T {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centred = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centred), axis, true);
    const normalised = tf.mul(centred, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normalised, norm.weight), norm.bias) as T;
  });
}
