import * as tf from "@tensorflow/tfjs";
import { exactGeluGrad } from "./exact-gelu";
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
        ? tf.tidy(() => exactGeluGrad(upstream, tf.add(tf.matMul(x, weight), bias)) as tf.Tensor2D)
        : upstream;
    return {
      x: () => tf.matMul(dz(), weight, false, true),
      weight: () => tf.matMul(x, dz(), true, false),
      bias: () => tf.sum(dz(), 0),
      residual: () => dz(),
    };
  },
};
