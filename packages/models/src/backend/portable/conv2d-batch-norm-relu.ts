import * as tf from "@tensorflow/tfjs";
import { type Conv2dBatchNormReluAttrs, MedfmConv2dBatchNormRelu } from "../kernel-names";

/**
 * {@link MedfmConv2dBatchNormRelu} as tfjs ops: `conv2d`, `batchNorm` with the running
 * statistics, `relu`. Runs on any backend.
 */
export function portableConv2dBatchNormRelu(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmConv2dBatchNormRelu,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { x, filter, scale, offset, mean, variance } = inputs as Record<string, tf.Tensor>;
      const { stride, padding, epsilon } = attrs as unknown as Conv2dBatchNormReluAttrs;
      return tf.tidy(() =>
        tf.relu(
          tf.batchNorm4d(
            tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, stride, padding),
            mean as tf.Tensor1D,
            variance as tf.Tensor1D,
            offset as tf.Tensor1D,
            scale as tf.Tensor1D,
            epsilon,
          ),
        ),
      );
    },
  };
}
