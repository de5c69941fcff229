import * as tf from "@tensorflow/tfjs";

/** Exact GELU, `z/2·(1 + erf(z/√2))`, as `nn.GELU()` with its default, as tfjs ops. */
export function exactGelu(z: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(z, 0.5), tf.add(tf.erf(tf.mul(z, Math.SQRT1_2)), 1)));
}

/** `dy` times the derivative of exact GELU at `z`, `dy·(Φ(z) + z·φ(z))`, as tfjs ops. */
export function exactGeluGrad(dy: tf.Tensor, z: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(z, Math.SQRT1_2)), 1), 0.5);
    const pdf = tf.mul(tf.exp(tf.mul(tf.square(z), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    return tf.mul(dy, tf.add(cdf, tf.mul(z, pdf)));
  });
}
