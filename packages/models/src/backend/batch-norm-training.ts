import * as tf from "@tensorflow/tfjs";
import {
  activeNativeBackend,
  hasMedfmKernels,
  type NativeBackend,
  nativeBatchNormReluGrad,
  nativeBatchNormTraining,
  nativeBatchNormTrainingGrad,
  nativeReluGrad,
} from "./native-ops";

/** Options of {@link batchNormTraining}. */
export interface BatchNormTrainingOptions {
  /**
   * Return `relu(batch norm)`, as DenseNet applies it after every batch norm. On the native
   * `tensorflow` backend (CPU) one oneDNN op computes both, with the same values as the two
   * steps; elsewhere it is `tf.relu` of the batch norm. Default false.
   */
  relu?: boolean;
}

/** Receives a training-mode batch norm's batch statistics while they are alive. */
export type BatchStatisticsCallback = (mean: tf.Tensor1D, variance: tf.Tensor1D) => void;

/** Running estimates a training-mode batch norm folds its batch statistics into, as torch does. */
export interface RunningStatistics {
  /** The current running mean. */
  mean: tf.Tensor1D;
  /** The current running variance (unbiased). */
  variance: tf.Tensor1D;
  /** Weight of the batch statistics in the new estimates. */
  momentum: number;
  /**
   * Receives the new estimates while they are alive: `(1 − momentum)·mean + momentum·batch mean`
   * and `(1 − momentum)·variance + momentum·unbiased batch variance`.
   */
  update: (mean: tf.Tensor1D, variance: tf.Tensor1D) => void;
}

/**
 * Training-mode batch normalisation of an NHWC tensor over its batch and spatial axes (biased
 * batch variance, as torch normalises), with the backward pass of torch's
 * `native_batch_norm_backward` in one step:
 * `dx = scale·r·(dy − mean(dy) − x̂·mean(dy·x̂))`, `dscale = Σ dy·x̂`, `doffset = Σ dy`, with
 * `r = 1/√(variance + ε)` and `x̂ = (x − mean)·r`. Composing `tf.moments` and `tf.batchNorm`
 * instead differentiates through the statistics: about 26 full-size operations per layer in the
 * backward pass against 7 here, the difference that dominates DenseNet training on wasm.
 *
 * On the native `tensorflow` backend, TensorFlow's `FusedBatchNormV3` and
 * `FusedBatchNormGradV3` compute the same forward and backward pass, one op each. With `relu`,
 * the gradient of both steps is one op (`MedfmBatchNormReluGrad`) where the binding carries
 * @medfm/models' kernels (see `medfm backend install`).
 *
 * `onStatistics` is called once, during the forward pass, with the batch mean and biased variance
 * (per channel); they are disposed after it returns and are never differentiated. Given
 * {@link RunningStatistics} instead, its `update` receives the new running estimates (on
 * `tensorflow` computed by the batch-norm op itself, sparing six small ops per layer).
 */
export function batchNormTraining(
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  epsilon: number,
  statistics?: BatchStatisticsCallback | RunningStatistics,
  options: BatchNormTrainingOptions = {},
): tf.Tensor4D {
  const channels = x.shape[3];
  if (scale.shape[0] !== channels || offset.shape[0] !== channels) {
    throw new RangeError(
      `batchNormTraining: input has ${channels} channels but scale has ${scale.shape[0]} and offset ${offset.shape[0]}`,
    );
  }
  const relu = options.relu ?? false;
  const native = x.dtype === "float32" ? activeNativeBackend() : undefined;
  if (native !== undefined) {
    return nativeOp(native, x, scale, offset, epsilon, statistics, relu);
  }
  if (relu) return tf.relu(batchNormTraining(x, scale, offset, epsilon, statistics));
  const count = x.shape[0] * x.shape[1] * x.shape[2];
  const onStatistics =
    typeof statistics === "object" ? runningUpdate(statistics, count) : statistics;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, gamma, beta] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const { mean, variance } = tf.moments(input, [0, 1, 2]) as {
      mean: tf.Tensor1D;
      variance: tf.Tensor1D;
    };
    onStatistics?.(mean, variance);
    save([input, gamma, mean, variance]);
    const value = tf.batchNorm4d(input, mean, variance, beta, gamma, epsilon);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [savedInput, savedScale, savedMean, savedVariance] = saved as [
            tf.Tensor4D,
            tf.Tensor1D,
            tf.Tensor1D,
            tf.Tensor1D,
          ];
          const normalised = tf.batchNorm4d(
            savedInput,
            savedMean,
            savedVariance,
            undefined,
            undefined,
            epsilon,
          );
          const sumDy = tf.sum(dy, [0, 1, 2]) as tf.Tensor1D;
          const sumDyNormalised = tf.sum(tf.mul(dy, normalised), [0, 1, 2]) as tf.Tensor1D;
          const reciprocal = tf.rsqrt(tf.add(savedVariance, epsilon));
          const perChannel = tf.mul(savedScale, reciprocal) as tf.Tensor1D;
          // x̂·(scale·r·mean(dy·x̂)) + scale·r·mean(dy) is itself a batch norm of x with that
          // per-channel scale and offset: one full-size operation instead of three.
          const correction = tf.batchNorm4d(
            savedInput,
            savedMean,
            savedVariance,
            tf.mul(perChannel, tf.div(sumDy, count)) as tf.Tensor1D,
            tf.mul(perChannel, tf.div(sumDyNormalised, count)) as tf.Tensor1D,
            epsilon,
          );
          const dx = tf.sub(tf.mul(dy, perChannel), correction);
          return [dx, sumDyNormalised, sumDy];
        }),
    };
  });
  return op(x, scale, offset) as tf.Tensor4D;
}

/** Folds batch statistics into running estimates with tfjs ops (the non-native path). */
function runningUpdate(running: RunningStatistics, count: number): BatchStatisticsCallback {
  return (mean, variance) =>
    tf.tidy(() => {
      const keep = 1 - running.momentum;
      running.update(
        tf.add(tf.mul(running.mean, keep), tf.mul(mean, running.momentum)),
        tf.add(
          tf.mul(running.variance, keep),
          tf.mul(variance, (running.momentum * count) / (count - 1)),
        ),
      );
    });
}

function nativeOp(
  backend: NativeBackend,
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  epsilon: number,
  statistics: BatchStatisticsCallback | RunningStatistics | undefined,
  relu: boolean,
): tf.Tensor4D {
  const running = typeof statistics === "object" ? statistics : undefined;
  // oneDNN's fused kernel runs on the CPU only; on a GPU, batch norm then ReLU.
  const fused = relu && backend.isUsingGpuDevice !== true;
  if (relu && !fused) {
    return tf.relu(nativeOp(backend, x, scale, offset, epsilon, statistics, false));
  }
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [input, gamma, beta] = args as [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D];
    const save = args[3] as tf.GradSaveFunc;
    const { y, mean, variance, reserve, runningMean, runningVariance } = nativeBatchNormTraining(
      backend,
      input,
      gamma,
      beta,
      epsilon,
      running,
      fused,
    );
    if (running !== undefined && runningMean !== undefined && runningVariance !== undefined) {
      running.update(runningMean, runningVariance);
      tf.dispose([runningMean, runningVariance]);
    } else if (typeof statistics === "function") {
      statistics(mean, variance);
    }
    // With ReLU, its gradient needs the output: dy where y > 0.
    save(
      fused ? [input, gamma, mean, variance, reserve, y] : [input, gamma, mean, variance, reserve],
    );
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedInput, savedScale, savedMean, savedVariance, savedReserve, output] = saved as [
          tf.Tensor4D,
          tf.Tensor1D,
          tf.Tensor1D,
          tf.Tensor1D,
          tf.Tensor,
          tf.Tensor | undefined,
        ];
        const statistics = {
          x: savedInput,
          scale: savedScale,
          mean: savedMean,
          variance: savedVariance,
        };
        // With ReLU: one op for both gradients where the binding has @medfm/models' kernels.
        if (output !== undefined && hasMedfmKernels(backend)) {
          return nativeBatchNormReluGrad(backend, dy, output, statistics, epsilon);
        }
        const normGradient = output === undefined ? dy : nativeReluGrad(backend, dy, output);
        const gradients = nativeBatchNormTrainingGrad(
          backend,
          normGradient,
          { ...statistics, reserve: savedReserve },
          epsilon,
        );
        if (normGradient !== dy) normGradient.dispose();
        return gradients;
      },
    };
  });
  return op(x, scale, offset) as tf.Tensor4D;
}
