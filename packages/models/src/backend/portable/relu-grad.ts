import * as tf from "@tensorflow/tfjs";
import { MedfmReluGrad } from "../kernel-names";

/** {@link MedfmReluGrad} as tfjs computes the `Relu` gradient: `dy·step(x)`. Runs on any backend. */
export function portableReluGrad(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmReluGrad,
    backendName,
    kernelFunc: ({ inputs }) => {
      const { dy, x } = inputs as Record<string, tf.Tensor>;
      return tf.tidy(() => tf.mul(dy as tf.Tensor, tf.step(tf.cast(x as tf.Tensor, "float32"))));
    },
  };
}
