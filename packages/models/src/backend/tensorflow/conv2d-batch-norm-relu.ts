import type * as tf from "@tensorflow/tfjs";
import { type Conv2dBatchNormReluAttrs, MedfmConv2dBatchNormRelu } from "../kernel-names";
import { type NativeBackend, nativeFusedConv2dBatchNormRelu } from "../native-ops";

/**
 * {@link MedfmConv2dBatchNormRelu} on TensorFlow as oneDNN's fused convolution
 * (`nativeFusedConv2dBatchNormRelu`: the convolution, the batch norm and the ReLU in one op) for
 * float32 NHWC tensors; anything else goes to `portable`. Register it only where the build and
 * binding run it (`hasOneDnnFusedConv2d`).
 */
export function tensorflowConv2dBatchNormRelu(portable: tf.KernelConfig): tf.KernelConfig {
  return {
    kernelName: MedfmConv2dBatchNormRelu,
    backendName: "tensorflow",
    kernelFunc: (parameters) => {
      const inputs = parameters.inputs as Record<string, tf.Tensor>;
      const { x, filter, scale, offset, mean, variance } = inputs;
      const attrs = parameters.attrs as unknown as Conv2dBatchNormReluAttrs;
      if (
        x?.rank !== 4 ||
        filter?.rank !== 4 ||
        [x, filter, scale, offset, mean, variance].some(
          (tensor) => tensor === undefined || tensor.dtype !== "float32",
        )
      ) {
        return portable.kernelFunc({ ...parameters, backend: parameters.backend });
      }
      return nativeFusedConv2dBatchNormRelu(
        parameters.backend as NativeBackend,
        x as tf.Tensor4D,
        filter as tf.Tensor4D,
        {
          scale: scale as tf.Tensor1D,
          offset: offset as tf.Tensor1D,
          mean: mean as tf.Tensor1D,
          variance: variance as tf.Tensor1D,
        },
        attrs,
      );
    },
  };
}
