import * as tf from "@tensorflow/tfjs";

/** Exact GELU, `z/2·(1 + erf(z/√2))`, as `nn.GELU()` with its default, as tfjs ops. */
export function exactGelu(z: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(z, 0.5), tf.add(tf.erf(tf.mul(z, Math.SQRT1_2)), 1)));
}
