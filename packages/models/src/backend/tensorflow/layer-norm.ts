import type * as tf from "@tensorflow/tfjs";
import { type LayerNormAttrs, MedfmLayerNorm } from "../kernel-names";
import { type NativeBackend, nativeLayerNorm } from "../native-ops";

/**
 * {@link MedfmLayerNorm} on TensorFlow as oneDNN's layer norm (`nativeLayerNorm`: one op for the
 * statistics, the normalisation, the scale and the offset) for float32 tensors; anything else
 * goes to `portable`. Register it only where the build runs it (`hasOneDnnLayerNorm`).
 */
export function tensorflowLayerNorm(portable: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: MedfmLayerNorm,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { x, scale, offset } = parameters.inputs as Record<string, tf.Tensor>;
      const { epsilon } = parameters.attrs as unknown as LayerNormAttrs;
      if (
        x === undefined ||
        x.rank < 1 ||
        scale?.rank !== 1 ||
        offset?.rank !== 1 ||
        [x, scale, offset].some((tensor) => tensor.dtype !== "float32")
      ) {
        return portable.kernelFunc({ ...parameters, backend: parameters.backend });
      }
      return nativeLayerNorm(
        parameters.backend as NativeBackend,
        x,
        scale as tf.Tensor1D,
        offset as tf.Tensor1D,
        epsilon,
      );
    },
  };
}
