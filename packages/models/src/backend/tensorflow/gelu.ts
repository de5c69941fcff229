import type * as tf from "@tensorflow/tfjs";
import { MedfmGelu, MedfmGeluGrad } from "../kernel-names";
import { type NativeBackend, nativeGelu } from "../native-ops";

/**
 * {@link MedfmGelu} and {@link MedfmGeluGrad} on TensorFlow as our kernels (`nativeGelu`: one
 * pass over the data each) for float32 tensors; anything else goes to `portable`, the configs of
 * the same two names. Register them only where the binding has the kernels (`hasMedfmGelu`).
 */
export function tensorflowGelu(portable: {
  gelu: tf.KernelConfig;
  geluGrad: tf.KernelConfig;
}): tf.KernelConfig[] {
  const native = (kernelName: string, fallback: tf.KernelConfig): tf.KernelConfig => ({
    kernelName,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { x, dy } = parameters.inputs as Record<string, tf.Tensor | undefined>;
      const gradient = kernelName === MedfmGeluGrad;
      if (
        x === undefined ||
        x.dtype !== "float32" ||
        (gradient && (dy === undefined || dy.dtype !== "float32" || dy.size !== x.size))
      ) {
        return fallback.kernelFunc(parameters);
      }
      return nativeGelu(parameters.backend as NativeBackend, x, gradient ? dy : undefined);
    },
  });
  return [native(MedfmGelu, portable.gelu), native(MedfmGeluGrad, portable.geluGrad)];
}
