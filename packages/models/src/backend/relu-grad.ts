import * as tf from "@tensorflow/tfjs";
import { MedfmReluGrad } from "./kernel-names";

/**
 * The gradient of `Relu`, one config for every backend: the {@link MedfmReluGrad} kernel, which
 * is TensorFlow's `ReluGrad` on the native `tensorflow` backend (one op, where tfjs-node runs
 * `dy·step(x)` as six) and tfjs's own `dy·step(x)` elsewhere. Both give `dy` where `x > 0` and 0
 * elsewhere.
 */
export const reluGradConfig: tf.GradConfig = {
  kernelName: tf.Relu,
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    return {
      x: () => tf.engine().runKernel(MedfmReluGrad, { dy: dy as tf.Tensor, x }) as tf.Tensor,
    };
  },
};

/**
 * Registers {@link reluGradConfig} in tfjs's (global) gradient registry, with the kernels it runs
 * on the active backend (see `registerMedfmKernels`). Idempotent.
 */
export function registerReluGrad(): void {
  if (tf.getGradient(tf.Relu) !== reluGradConfig) tf.registerGradient(reluGradConfig);
}
