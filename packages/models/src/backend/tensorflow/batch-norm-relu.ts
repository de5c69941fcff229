import type * as tf from "@tensorflow/tfjs";
import { type BatchNormReluAttrs, MedfmBatchNormRelu } from "../kernel-names";
import { type NativeBackend, nativeBatchNormRelu } from "../native-ops";

/**
 * {@link MedfmBatchNormRelu} on TensorFlow as our kernel (`nativeBatchNormRelu`: one pass over
 * the data) for float32 tensors; anything else goes to `portable`. Register it only where the
 * binding has the kernel (`hasMedfmBatchNormRelu`).
 */
export function tensorflowBatchNormRelu(portable: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: MedfmBatchNormRelu,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const inputs = parameters.inputs as Record<string, tf.Tensor | undefined>;
      const { x, scale, offset, mean, variance } = inputs;
      const { epsilon } = parameters.attrs as unknown as BatchNormReluAttrs;
      const channels = x === undefined || x.rank < 1 ? -1 : x.shape[x.rank - 1];
      const vectors = [scale, offset, mean, variance];
      if (
        x === undefined ||
        x.dtype !== "float32" ||
        vectors.some(
          (vector) => vector?.rank !== 1 || vector.size !== channels || vector.dtype !== "float32",
        )
      ) {
        return portable.kernelFunc({ ...parameters, backend: parameters.backend });
      }
      return nativeBatchNormRelu(
        parameters.backend as NativeBackend,
        x,
        {
          scale: scale as tf.Tensor1D,
          offset: offset as tf.Tensor1D,
          mean: mean as tf.Tensor1D,
          variance: variance as tf.Tensor1D,
        },
        epsilon,
      );
    },
  };
}
