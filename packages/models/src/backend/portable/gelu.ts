import type * as tf from "@tensorflow/tfjs";
import { exactGelu, exactGeluGrad } from "../exact-gelu";
import { MedfmGelu, MedfmGeluGrad } from "../kernel-names";

/** {@link MedfmGelu} as tfjs ops ({@link exactGelu}). Runs on any backend. */
export function portableGelu(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmGelu,
    backendName,
    kernelFunc: ({ inputs }) => exactGelu((inputs as Record<string, tf.Tensor>).x as tf.Tensor),
  };
}

/** {@link MedfmGeluGrad} as tfjs ops ({@link exactGeluGrad}). Runs on any backend. */
export function portableGeluGrad(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmGeluGrad,
    backendName,
    kernelFunc: ({ inputs }) => {
      const { dy, x } = inputs as Record<string, tf.Tensor>;
      return exactGeluGrad(dy as tf.Tensor, x as tf.Tensor);
    },
  };
}
