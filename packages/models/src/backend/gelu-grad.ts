import * as tf from "@tensorflow/tfjs";
import { MedfmGelu, MedfmGeluGrad } from "./kernel-names";

/**
 * The gradient of {@link MedfmGelu}, one config for every backend: the {@link MedfmGeluGrad}
 * kernel on the saved input (one native op on the tensorflow backend, where tfjs's autodiff of
 * the composite runs eight).
 */
export const geluGradConfig: tf.GradConfig = {
  kernelName: MedfmGelu,
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => {
    const [x] = saved as [tf.Tensor];
    return {
      x: () => tf.engine().runKernel(MedfmGeluGrad, { dy: dy as tf.Tensor, x }) as tf.Tensor,
    };
  },
};
