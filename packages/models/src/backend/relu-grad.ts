import * as tf from "@tensorflow/tfjs";
import { activeNativeBackend, nativeReluGrad } from "./native-ops";

/**
 * The gradient of `Relu`: on the native `tensorflow` backend TensorFlow's `ReluGrad` (one op,
 * where tfjs-node runs `dy·step(x)` as six full-size ops); elsewhere tfjs's own `dy·step(x)`.
 * Both give `dy` where `x > 0` and 0 elsewhere.
 */
export const reluGradConfig: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    const gradient = dy as tf.Tensor;
    const native = x.dtype === "float32" ? activeNativeBackend() : undefined;
    return {
      x: () =>
        native !== undefined
          ? nativeReluGrad(native, gradient, x)
          : tf.mul(gradient, tf.step(tf.cast(x, "float32"))),
    };
  },
};

/** Registers {@link reluGradConfig} in tfjs's (global) gradient registry. Idempotent. */
export function registerReluGrad(): void {
  if (tf.getGradient(tf.Relu) !== reluGradConfig) tf.registerGradient(reluGradConfig);
}
