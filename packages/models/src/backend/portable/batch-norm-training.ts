import * as tf from "@tensorflow/tfjs";
import {
  type BatchNormTrainingAttrs,
  MedfmBatchNormReluGradAdd,
  MedfmBatchNormTraining,
  MedfmBatchNormTrainingGrad,
} from "../kernel-names";

/**
 * {@link MedfmBatchNormTraining} with tfjs ops: `tf.moments` over the batch and spatial axes,
 * `tf.batchNorm4d`, then `tf.relu` with `relu`; the running estimates as torch folds them
 * (`(1 − m)·running + m·batch`, the variance Bessel-corrected). Runs on any backend.
 */
export function portableBatchNormTraining(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmBatchNormTraining,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { x, scale, offset, runningMean, runningVariance } = inputs as Record<
        string,
        tf.Tensor
      >;
      const { epsilon, momentum, relu } = attrs as unknown as BatchNormTrainingAttrs;
      return tf.tidy(() => {
        const input = x as tf.Tensor4D;
        const { mean, variance } = tf.moments(input, [0, 1, 2]) as {
          mean: tf.Tensor1D;
          variance: tf.Tensor1D;
        };
        const normalised = tf.batchNorm4d(
          input,
          mean,
          variance,
          offset as tf.Tensor1D,
          scale as tf.Tensor1D,
          epsilon,
        );
        const y = relu ? tf.relu(normalised) : normalised;
        const reserve = tf.tensor1d([], "float32");
        if (runningMean === undefined || runningVariance === undefined) {
          return [y, mean, variance, reserve];
        }
        const count = input.shape[0] * input.shape[1] * input.shape[2];
        const keep = 1 - momentum;
        return [
          y,
          mean,
          variance,
          reserve,
          tf.add(tf.mul(runningMean, keep), tf.mul(mean, momentum)),
          tf.add(tf.mul(runningVariance, keep), tf.mul(variance, (momentum * count) / (count - 1))),
        ];
      });
    },
  };
}

/**
 * {@link MedfmBatchNormTrainingGrad} with tfjs ops, torch's `native_batch_norm_backward` in
 * closed form: `dx = scale·r·(dy − mean(dy) − x̂·mean(dy·x̂))`, `dscale = Σ dy·x̂`,
 * `doffset = Σ dy`, with `r = 1/√(variance + ε)` and `x̂ = (x − mean)·r`; with `relu`, `dy` is
 * first zeroed where `y` is not positive. Runs on any backend.
 */
export function portableBatchNormTrainingGrad(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmBatchNormTrainingGrad,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { dy, x, scale, mean, variance, y } = inputs as Record<string, tf.Tensor>;
      const { epsilon, relu } = attrs as unknown as { epsilon: number; relu: boolean };
      return tf.tidy(() =>
        batchNormGradients(
          relu ? tf.mul(dy as tf.Tensor, tf.step(y as tf.Tensor)) : (dy as tf.Tensor),
          x as tf.Tensor4D,
          scale as tf.Tensor1D,
          mean as tf.Tensor1D,
          variance as tf.Tensor1D,
          epsilon,
        ),
      );
    },
  };
}

/**
 * {@link MedfmBatchNormReluGradAdd} composed of the backend's own
 * {@link MedfmBatchNormTrainingGrad}, an add and a split: the fallback wherever no single
 * kernel does all three. Runs on any backend that has {@link MedfmBatchNormTrainingGrad}.
 */
export function portableBatchNormReluGradAdd(backendName: string): tf.KernelConfig {
  return {
    kernelName: MedfmBatchNormReluGradAdd,
    backendName,
    kernelFunc: ({ inputs, attrs }) => {
      const { residual, splitLike, ...rest } = inputs as Record<string, tf.Tensor>;
      const { epsilon } = attrs as unknown as { epsilon: number };
      return tf.tidy(() => {
        const [dx, dscale, doffset] = tf
          .engine()
          .runKernel(MedfmBatchNormTrainingGrad, rest as tf.NamedTensorMap, {
            epsilon,
            relu: true,
          }) as tf.Tensor[];
        const sum = tf.add(dx as tf.Tensor, residual as tf.Tensor) as tf.Tensor4D;
        const channels = sum.shape[3];
        const tail = (splitLike as tf.Tensor).shape[0] as number;
        const [head, rest2] =
          tail === 0
            ? [sum, tf.zeros([...sum.shape.slice(0, 3), 0])]
            : tf.split(sum, [channels - tail, tail], 3);
        return [head as tf.Tensor, rest2 as tf.Tensor, dscale as tf.Tensor, doffset as tf.Tensor];
      });
    },
  };
}

/** The batch-norm gradients of `dy` (already through any ReLU); see the kernel above. */
function batchNormGradients(
  dy: tf.Tensor,
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  epsilon: number,
): tf.Tensor[] {
  const count = x.shape[0] * x.shape[1] * x.shape[2];
  const normalised = tf.batchNorm4d(x, mean, variance, undefined, undefined, epsilon);
  const sumDy = tf.sum(dy, [0, 1, 2]) as tf.Tensor1D;
  const sumDyNormalised = tf.sum(tf.mul(dy, normalised), [0, 1, 2]) as tf.Tensor1D;
  const reciprocal = tf.rsqrt(tf.add(variance, epsilon));
  const perChannel = tf.mul(scale, reciprocal) as tf.Tensor1D;
  // x̂·(scale·r·mean(dy·x̂)) + scale·r·mean(dy) is itself a batch norm of x with that
  // per-channel scale and offset: one full-size operation instead of three.
  const correction = tf.batchNorm4d(
    x,
    mean,
    variance,
    tf.mul(perChannel, tf.div(sumDy, count)) as tf.Tensor1D,
    tf.mul(perChannel, tf.div(sumDyNormalised, count)) as tf.Tensor1D,
    epsilon,
  );
  const dx = tf.sub(tf.mul(dy, perChannel), correction);
  return [dx, sumDyNormalised, sumDy];
}
