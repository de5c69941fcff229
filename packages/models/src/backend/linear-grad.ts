import * as tf from "@tensorflow/tfjs";
import { type LinearAttrs, MedfmLinear } from "./kernel-names";

/**
 * The gradient of {@link MedfmLinear}, one config for every backend: with `dz` the gradient at
 * `z = x·weight + bias` (`dy` itself, or with GELU `dy·(Φ(z) + z·φ(z))`, `z` recomputed),
 * `dx = dz·weightᵀ`, `dweight = xᵀ·dz`, `dbias = Σ_rows dz`, `dresidual = dz`, as tfjs
 * differentiates `matMul` and `add`. Only the gradients asked for are computed.
 */
export const linearGradConfig: tf.GradConfig = {
  kernelName: MedfmLinear,
  inputsToSave: ["x", "weight", "bias"],
  gradFunc: (dy, saved, attrs) => {
    const [x, weight, bias] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const { activation } = attrs as unknown as LinearAttrs;
    const upstream = dy as tf.Tensor2D;
    // Recomputed per input gradient, not shared: tfjs runs each input's gradient function in its
    // own tidy, which would release a shared tensor after the first.
    const dz = (): tf.Tensor2D =>
      activation === "gelu"
        ? tf.tidy(() => {
            const z = tf.add(tf.matMul(x, weight), bias);
            const cdf = tf.mul(tf.add(tf.erf(tf.mul(z, Math.SQRT1_2)), 1), 0.5);
            const pdf = tf.mul(tf.exp(tf.mul(tf.square(z), -0.5)), 1 / Math.sqrt(2 * Math.PI));
            return tf.mul(upstream, tf.add(cdf, tf.mul(z, pdf))) as tf.Tensor2D;
          })
        : upstream;
    return {
      x: () => tf.matMul(dz(), weight, false, true),
      weight: () => tf.matMul(x, dz(), true, false),
      bias: () => tf.sum(dz(), 0),
      residual: () => dz(),
    };
  },
};
