import type * as tf from "@tensorflow/tfjs";
import {
  type BatchNormTrainingAttrs,
  MedfmBatchNormReluGradAdd,
  MedfmBatchNormTraining,
  MedfmBatchNormTrainingGrad,
} from "../kernel-names";
import {
  type NativeBackend,
  nativeBatchNormReluGrad,
  nativeBatchNormReluGradAdd,
  nativeBatchNormReluTraining,
  nativeBatchNormTraining,
  nativeBatchNormTrainingGrad,
  nativeReluGrad,
} from "../native-ops";

/** What the tensorflow batch-norm kernels may use, learned once when they are registered. */
export interface NativeBatchNormCapabilities {
  /** oneDNN's fused batch norm + ReLU runs here (x86 CPU builds). */
  oneDnnRelu: boolean;
  /** The binding carries @medfm/models' own kernels (`MedfmBatchNormReluGrad[Add]`). */
  medfmKernels: boolean;
  /** The binding carries our training batch norm + ReLU (`MedfmBatchNormReluTraining`). */
  medfmBatchNormReluTraining: boolean;
}

/**
 * {@link MedfmBatchNormTraining} as one TensorFlow op: `FusedBatchNormV3` (running estimates
 * through its `exponential_avg_factor`); with ReLU our `MedfmBatchNormReluTraining` where the
 * binding has it, else oneDNN's `_MklNativeFusedBatchNormEx` where the build has it, else
 * `FusedBatchNormV3` then `Relu`.
 */
export function tensorflowBatchNormTraining(
  capabilities: NativeBatchNormCapabilities,
): tf.KernelConfig {
  return {
    kernelName: MedfmBatchNormTraining,
    backendName: "tensorflow",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { x, scale, offset, runningMean, runningVariance } = inputs as Record<
        string,
        tf.Tensor
      >;
      const { epsilon, momentum, relu } = attrs as unknown as BatchNormTrainingAttrs;
      const running =
        runningMean !== undefined && runningVariance !== undefined
          ? {
              mean: runningMean as tf.Tensor1D,
              variance: runningVariance as tf.Tensor1D,
              momentum,
            }
          : undefined;
      const ours = relu && capabilities.medfmBatchNormReluTraining && x?.dtype === "float32";
      const result = ours
        ? nativeBatchNormReluTraining(
            backend as NativeBackend,
            x as tf.Tensor4D,
            scale as tf.Tensor1D,
            offset as tf.Tensor1D,
            epsilon,
            running,
          )
        : nativeBatchNormTraining(
            backend as NativeBackend,
            x as tf.Tensor4D,
            scale as tf.Tensor1D,
            offset as tf.Tensor1D,
            epsilon,
            running,
            relu,
            capabilities.oneDnnRelu,
          );
      const outputs = [result.y, result.mean, result.variance, result.reserve];
      if (result.runningMean === undefined || result.runningVariance === undefined) return outputs;
      return [...outputs, result.runningMean, result.runningVariance];
    },
  };
}

/**
 * {@link MedfmBatchNormTrainingGrad} on TensorFlow: with ReLU one `MedfmBatchNormReluGrad` where
 * the binding has it, else `ReluGrad` then `FusedBatchNormGradV3`; without, `FusedBatchNormGradV3`.
 */
export function tensorflowBatchNormTrainingGrad(
  capabilities: NativeBatchNormCapabilities,
): tf.KernelConfig {
  return {
    kernelName: MedfmBatchNormTrainingGrad,
    backendName: "tensorflow",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const native = backend as NativeBackend;
      const { dy, x, scale, mean, variance, reserve, y } = inputs as Record<string, tf.Tensor>;
      const { epsilon, relu } = attrs as unknown as { epsilon: number; relu: boolean };
      const saved = {
        x: x as tf.Tensor4D,
        scale: scale as tf.Tensor1D,
        mean: mean as tf.Tensor1D,
        variance: variance as tf.Tensor1D,
      };
      if (relu && capabilities.medfmKernels) {
        return nativeBatchNormReluGrad(native, dy as tf.Tensor, y as tf.Tensor, saved, epsilon);
      }
      const normGradient = relu
        ? nativeReluGrad(native, dy as tf.Tensor, y as tf.Tensor)
        : (dy as tf.Tensor);
      const gradients = nativeBatchNormTrainingGrad(
        native,
        normGradient,
        { ...saved, reserve: reserve as tf.Tensor },
        epsilon,
      );
      if (normGradient !== dy) normGradient.dispose();
      return gradients;
    },
  };
}

/** {@link MedfmBatchNormReluGradAdd} as @medfm/models' one TensorFlow op of that name. */
export function tensorflowBatchNormReluGradAdd(): tf.KernelConfig {
  return {
    kernelName: MedfmBatchNormReluGradAdd,
    backendName: "tensorflow",
    kernelFunc: ({ inputs, attrs, backend }) => {
      const { dy, x, scale, mean, variance, y, residual, splitLike } = inputs as Record<
        string,
        tf.Tensor
      >;
      const { epsilon } = attrs as unknown as { epsilon: number };
      return nativeBatchNormReluGradAdd(
        backend as NativeBackend,
        dy as tf.Tensor,
        y as tf.Tensor,
        {
          x: x as tf.Tensor4D,
          scale: scale as tf.Tensor1D,
          mean: mean as tf.Tensor1D,
          variance: variance as tf.Tensor1D,
        },
        epsilon,
        residual as tf.Tensor,
        splitLike as tf.Tensor,
      );
    },
  };
}
