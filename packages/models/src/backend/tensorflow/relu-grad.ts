import type * as tf from "@tensorflow/tfjs";
import { MedfmReluGrad } from "../kernel-names";
import { type NativeBackend, nativeReluGrad } from "../native-ops";

/** {@link MedfmReluGrad} as TensorFlow's `ReluGrad`: one op where tfjs's `dy·step(x)` is six. */
export function tensorflowReluGrad(): tf.KernelConfig {
  return {
    kernelName: MedfmReluGrad,
    backendName: "tensorflow",
    kernelFunc: ({ inputs, backend }) => {
      const { dy, x } = inputs as Record<string, tf.Tensor>;
      return nativeReluGrad(backend as NativeBackend, dy as tf.Tensor, x as tf.Tensor);
    },
  };
}
