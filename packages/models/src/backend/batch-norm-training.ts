import * as tf from "@tensorflow/tfjs";
import { type BatchNormTrainingAttrs, MedfmBatchNormTraining } from "./kernel-names";
import { runMedfmKernel } from "./kernel-registry";

/** Options of {@link batchNormTraining}. */
export interface BatchNormTrainingOptions {
  /**
   * Return `relu(batch norm)`, as DenseNet applies it after every batch norm: one kernel for
   * both (on the native `tensorflow` backend's CPU builds one oneDNN op), with the same values as
   * the two steps. Default false.
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

/** What {@link batchNormTrainingKernel} gives. */
export interface BatchNormTrainingResult {
  /** The normalised (and with `relu`, rectified) input. */
  y: tf.Tensor4D;
  /** Per-channel batch mean. */
  mean: tf.Tensor1D;
  /** Per-channel biased batch variance. */
  variance: tf.Tensor1D;
  /** What the backend's gradient kernel needs besides the statistics (often empty). */
  reserve: tf.Tensor;
  /** With running inputs: the new running mean. */
  runningMean?: tf.Tensor1D;
  /** With running inputs: the new running (unbiased) variance. */
  runningVariance?: tf.Tensor1D;
}

/**
 * Runs the `MedfmBatchNormTraining` kernel of the active backend once and names its outputs
 * (all owned by the caller). Recorded on the gradient tape when one is on.
 */
export function batchNormTrainingKernel(
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  attrs: BatchNormTrainingAttrs,
  running?: { mean: tf.Tensor1D; variance: tf.Tensor1D },
): BatchNormTrainingResult {
  const inputs: tf.NamedTensorMap = { x, scale, offset };
  if (running !== undefined) {
    inputs.runningMean = running.mean;
    inputs.runningVariance = running.variance;
  }
  const [y, mean, variance, reserve, runningMean, runningVariance] = runMedfmKernel(
    MedfmBatchNormTraining,
    inputs,
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor[];
  return {
    y: y as tf.Tensor4D,
    mean: mean as tf.Tensor1D,
    variance: variance as tf.Tensor1D,
    reserve: reserve as tf.Tensor,
    ...(runningMean !== undefined && runningVariance !== undefined
      ? { runningMean: runningMean as tf.Tensor1D, runningVariance: runningVariance as tf.Tensor1D }
      : {}),
  };
}

/**
 * Training-mode batch normalisation of an NHWC tensor over its batch and spatial axes (biased
 * batch variance, as torch normalises), as one kernel (`MedfmBatchNormTraining`) with one
 * gradient kernel (`MedfmBatchNormTrainingGrad`), torch's `native_batch_norm_backward`:
 * `dx = scale·r·(dy − mean(dy) − x̂·mean(dy·x̂))`, `dscale = Σ dy·x̂`, `doffset = Σ dy`, with
 * `r = 1/√(variance + ε)` and `x̂ = (x − mean)·r`. Composing `tf.moments` and `tf.batchNorm`
 * instead differentiates through the statistics: about 26 full-size operations per layer in the
 * backward pass against 7 here. Each backend registers its kernels (see `kernel-registry.ts`):
 * tfjs ops on cpu and wasm, TensorFlow's `FusedBatchNormV3` / `FusedBatchNormGradV3` (and with
 * `relu` oneDNN's fused op and `MedfmBatchNormReluGrad`) on the native `tensorflow` backend.
 *
 * `onStatistics` is called once, during the forward pass, with the batch mean and biased variance
 * (per channel); they are disposed after it returns and are never differentiated. Given
 * {@link RunningStatistics} instead, its `update` receives the new running estimates, computed by
 * the same kernel.
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
  const running = typeof statistics === "object" ? statistics : undefined;
  const result = batchNormTrainingKernel(
    x,
    scale,
    offset,
    { epsilon, momentum: running?.momentum ?? 0, relu: options.relu ?? false },
    running,
  );
  if (running !== undefined && result.runningMean && result.runningVariance) {
    running.update(result.runningMean, result.runningVariance);
  } else if (typeof statistics === "function") {
    statistics(result.mean, result.variance);
  }
  tf.dispose([
    result.mean,
    result.variance,
    result.reserve,
    ...(result.runningMean ? [result.runningMean] : []),
    ...(result.runningVariance ? [result.runningVariance] : []),
  ]);
  return result.y;
}
