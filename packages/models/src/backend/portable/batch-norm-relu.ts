import * as tf from "@tensorflow/tfjs";
import { type BatchNormReluAttrs, MedfmBatchNormRelu } from "../kernel-names";
import type { BatchNormParameters } from "./conv2d-batch-norm-relu";

/**
 * `relu(batchNorm(x))` with running statistics as two tfjs ops: the portable
 * {@link MedfmBatchNormRelu}, and what the native backend's probe checks its kernel against.
 */
export function batchNormReluComposite(
  x: tf.Tensor,
  norm: BatchNormParameters,
  epsilon: number,
): tf.Tensor {
  return tf.tidy(() =>
    tf.relu(tf.batchNorm(x, norm.mean, norm.variance, norm.offset, norm.scale, epsilon)),
  );
}

/** {@link MedfmBatchNormRelu} as tfjs ops ({@link batchNormReluComposite}). Runs on any backend. */
export function portableBatchNormRelu(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmBatchNormRelu,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { x, scale, offset, mean, variance } = inputs as Record<string, tf.Tensor>;
      const { epsilon } = attrs as unknown as BatchNormReluAttrs;
      return batchNormReluComposite(
        x as tf.Tensor,
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
