import type * as tf from "@tensorflow/tfjs";
import { type LayerNormAttrs, MedfmLayerNormGrad } from "../kernel-names";
import { type NativeBackend, nativeLayerNormGrad } from "../native-ops";

/**
 * {@link MedfmLayerNormGrad} on TensorFlow as our kernel (`nativeLayerNormGrad`: one op, row by
 * row) for float32 tensors; anything else goes to `portable`. Register it only where the binding
 * has the kernel (`hasMedfmLayerNormGrad`).
 */
export function tensorflowLayerNormGrad(portable: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: MedfmLayerNormGrad,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const { dy, x, scale } = parameters.inputs as Record<string, tf.Tensor | undefined>;
      const { epsilon } = parameters.attrs as unknown as LayerNormAttrs;
      if (
        dy === undefined ||
        x === undefined ||
        scale?.rank !== 1 ||
        x.rank < 1 ||
        dy.size !== x.size ||
        scale.size !== x.shape[x.rank - 1] ||
        [dy, x, scale].some((tensor) => tensor.dtype !== "float32")
      ) {
        return portable.kernelFunc({ ...parameters, backend: parameters.backend });
      }
      return nativeLayerNormGrad(
        parameters.backend as NativeBackend,
        dy,
        x,
        scale as tf.Tensor1D,
        epsilon,
      );
    },
  };
}
