import * as tf from "@tensorflow/tfjs";
import { MedfmBatchNormTraining, MedfmBatchNormTrainingGrad } from "./kernel-names";

/**
 * The gradient of {@link MedfmBatchNormTraining}, one config for every backend: the backend's
 * {@link MedfmBatchNormTrainingGrad} kernel, from the saved input and scale and the forward
 * kernel's `y`, batch mean, biased batch variance and reserve. The running estimates get no
 * gradient (they are not trainable; zeros if asked).
 */
export const batchNormTrainingGradConfig: tf.GradConfig = {
  kernelName: MedfmBatchNormTraining,
  inputsToSave: ["x", "scale"],
  outputsToSave: [true, true, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [dy] = dys as tf.Tensor[];
    const [x, scale, y, mean, variance, reserve] = saved as tf.Tensor[];
    const { epsilon, relu } = attrs as unknown as { epsilon: number; relu: boolean };
    // One kernel gives all three gradients; the tape asks for them one by one.
    const inputs = { dy, x, scale, mean, variance, reserve, y } as tf.NamedTensorMap;
    const kernelAttrs = { epsilon, relu };
    const gradients = tf.engine().runKernel(MedfmBatchNormTrainingGrad, inputs, kernelAttrs);
    const [dx, dscale, doffset] = gradients as tf.Tensor[];
    return {
      x: () => dx as tf.Tensor,
      scale: () => dscale as tf.Tensor,
      offset: () => doffset as tf.Tensor,
      runningMean: () => tf.zerosLike(mean as tf.Tensor),
      runningVariance: () => tf.zerosLike(variance as tf.Tensor),
    };
  },
};

/** Registers {@link batchNormTrainingGradConfig} in tfjs's (global) gradient registry. Idempotent. */
export function registerBatchNormTrainingGrad(): void {
  if (tf.getGradient(MedfmBatchNormTraining) !== batchNormTrainingGradConfig) {
    tf.registerGradient(batchNormTrainingGradConfig);
  }
}
