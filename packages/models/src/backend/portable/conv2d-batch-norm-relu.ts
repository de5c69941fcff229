import * as tf from "@tensorflow/tfjs";
import { type Conv2dBatchNormReluAttrs, MedfmConv2dBatchNormRelu } from "../kernel-names";

/** Running statistics and affine parameters of an inference-mode batch norm, each `[channels]`. */
export interface BatchNormParameters {
  scale: tf.Tensor1D;
  offset: tf.Tensor1D;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * `relu(batchNorm(conv2d(x, filter)))` with running statistics as three tfjs ops: the portable
 * {@link MedfmConv2dBatchNormRelu}, and what the native backend's probe checks its fused op
 * against.
 */
export function conv2dBatchNormReluComposite(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  norm: BatchNormParameters,
  attrs: Conv2dBatchNormReluAttrs,
): tf.Tensor4D {
  return tf.tidy(() =>
    tf.relu(
      tf.batchNorm4d(
        tf.conv2d(x, filter, attrs.stride, attrs.padding),
        norm.mean,
        norm.variance,
        norm.offset,
        norm.scale,
        attrs.epsilon,
      ),
    ),
  );
}

/** {@link MedfmConv2dBatchNormRelu} as tfjs ops ({@link conv2dBatchNormReluComposite}). Runs on any backend. */
export function portableConv2dBatchNormRelu(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmConv2dBatchNormRelu,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { x, filter, scale, offset, mean, variance } = inputs as Record<string, tf.Tensor>;
      return conv2dBatchNormReluComposite(
        x as tf.Tensor4D,
        filter as tf.Tensor4D,
        {
          scale: scale as tf.Tensor1D,
          offset: offset as tf.Tensor1D,
          mean: mean as tf.Tensor1D,
          variance: variance as tf.Tensor1D,
        },
        attrs as unknown as Conv2dBatchNormReluAttrs,
      );
    },
  };
}
