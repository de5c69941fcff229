import * as tf from "@tensorflow/tfjs";
import { batchNormTraining } from "../../backend/batch-norm-training";
import { MedfmBatchNormRelu, MedfmConcatBatchNormRelu } from "../../backend/kernel-names";
import { runMedfmKernel } from "../../backend/kernel-registry";
import { recordingGradients } from "../../backend/recording-gradients";
import { createVariable } from "../initializers";

/** Per-channel mean and biased variance of an NHWC tensor over batch and spatial axes. */
export function batchMoments(x: tf.Tensor4D): { mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return { mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/** Options of {@link BatchNorm2d.apply}. */
export interface BatchNormApplyOptions {
  /** Normalise with the batch statistics (true) or the running estimates (false). */
  training: boolean;
  /**
   * In training mode, fold the batch statistics into the running estimates (default true).
   * Recomputation passes (memory-efficient mode) set it to false so a batch counts once.
   */
  updateStatistics?: boolean;
  /**
   * Return `relu(batch norm)`, as DenseNet applies a ReLU after every batch norm. In training mode
   * on the native `tensorflow` backend (CPU) one oneDNN op computes both; with running statistics
   * outside gradient recording, one {@link MedfmBatchNormRelu} kernel (ours on that backend, one
   * pass); elsewhere `tf.relu` of the batch norm. The values are the same either way. Default false.
   */
  relu?: boolean;
}

/**
 * A channels-last `nn.BatchNorm2d` as torch defines it: eps 1e-5, momentum 0.1, the biased batch
 * variance for normalisation and the unbiased one for the running estimate.
 *
 * Running statistics are updated inside {@link BatchNorm2d.apply} with `Variable.assign`, as torch
 * and tfjs-layers do. This is safe inside `tf.variableGrads` / `optimizer.minimize`: the running
 * estimates are non-trainable variables that no loss depends on, `assign` is not recorded on the
 * gradient tape, and the assigned tensor outlives the surrounding `tidy` through the variable's
 * own reference.
 */
export class BatchNorm2d {
  /** torchvision key prefix, e.g. `features.denseblock1.denselayer1.norm1`. */
  readonly key: string;
  /** Number of channels normalised. */
  readonly numFeatures: number;
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** Weight of the new batch statistic in the running estimate. */
  readonly momentum: number;
  /** Scale (gamma), torch `weight`. */
  readonly weight: tf.Variable<tf.Rank.R1>;
  /** Offset (beta), torch `bias`. */
  readonly bias: tf.Variable<tf.Rank.R1>;
  /** Running mean, torch `running_mean`. */
  readonly runningMean: tf.Variable<tf.Rank.R1>;
  /** Running variance (unbiased), torch `running_var`. */
  readonly runningVar: tf.Variable<tf.Rank.R1>;
  /** Training-mode batches folded into the running estimates, torch `num_batches_tracked`. */
  numBatchesTracked = 0;
  /** When true the layer always uses its running estimates and never updates them. */
  frozen = false;

  constructor(scope: string, key: string, numFeatures: number, eps = 1e-5, momentum = 0.1) {
    this.key = key;
    this.numFeatures = numFeatures;
    this.eps = eps;
    this.momentum = momentum;
    this.weight = createVariable(() => tf.ones([numFeatures]), true, `${scope}/${key}.weight`);
    this.bias = createVariable(() => tf.zeros([numFeatures]), true, `${scope}/${key}.bias`);
    this.runningMean = createVariable(
      () => tf.zeros([numFeatures]),
      false,
      `${scope}/${key}.running_mean`,
    );
    this.runningVar = createVariable(
      () => tf.ones([numFeatures]),
      false,
      `${scope}/${key}.running_var`,
    );
  }

  /**
   * Whether {@link BatchNorm2d.apply} with these options normalises with the running estimates
   * and runs outside gradient recording: where {@link BatchNorm2d.applyReluToPieces} reads its
   * pieces without concatenating them.
   */
  readsPieces(options: BatchNormApplyOptions): boolean {
    return (!options.training || this.frozen) && !recordingGradients();
  }

  /**
   * `relu(norm(concat(pieces, channels)))`, the same values as {@link BatchNorm2d.apply} with
   * `relu: true` on the concatenation. Where {@link BatchNorm2d.readsPieces}, one
   * {@link MedfmConcatBatchNormRelu} kernel reads the pieces where they are and the concatenation
   * is never made (a DenseNet layer's norm1 in eval mode); otherwise the pieces are concatenated
   * and applied as usual.
   */
  applyReluToPieces(pieces: readonly tf.Tensor4D[], options: BatchNormApplyOptions): tf.Tensor4D {
    if (pieces.length === 0) throw new RangeError(`${this.key}: no pieces to normalise`);
    if (pieces.length === 1 || !this.readsPieces(options)) {
      const x = pieces.length === 1 ? pieces[0] : (tf.concat([...pieces], 3) as tf.Tensor4D);
      return this.apply(x, { ...options, relu: true });
    }
    const inputs: tf.NamedTensorMap = {
      scale: this.weight,
      offset: this.bias,
      mean: this.runningMean,
      variance: this.runningVar,
    };
    for (const [index, piece] of pieces.entries()) inputs[`x${index}`] = piece;
    return runMedfmKernel(MedfmConcatBatchNormRelu, inputs, {
      count: pieces.length,
      epsilon: this.eps,
    }) as tf.Tensor4D;
  }

  /** Normalises an NHWC tensor over its batch and spatial axes. */
  apply(x: tf.Tensor4D, options: BatchNormApplyOptions): tf.Tensor4D {
    if (!options.training || this.frozen) {
      if (options.relu === true && !recordingGradients()) {
        return runMedfmKernel(
          MedfmBatchNormRelu,
          {
            x,
            scale: this.weight,
            offset: this.bias,
            mean: this.runningMean,
            variance: this.runningVar,
          },
          { epsilon: this.eps },
        ) as tf.Tensor4D;
      }
      const normalised = tf.batchNorm4d(
        x,
        this.runningMean,
        this.runningVar,
        this.bias,
        this.weight,
        this.eps,
      );
      return options.relu === true ? tf.relu(normalised) : normalised;
    }
    const [batch, height, width] = x.shape;
    const count = batch * height * width;
    if (count < 2) {
      throw new RangeError(
        `${this.key}: training-mode batch norm needs more than 1 value per channel, got input shape [${x.shape.join(", ")}]`,
      );
    }
    // One custom-gradient op with torch's closed-form backward (see batchNormTraining) rather
    // than differentiating through tf.moments: far fewer full-size operations per layer.
    return batchNormTraining(
      x,
      this.weight,
      this.bias,
      this.eps,
      options.updateStatistics === false
        ? undefined
        : {
            mean: this.runningMean,
            variance: this.runningVar,
            momentum: this.momentum,
            update: (mean, variance) => {
              this.runningMean.assign(mean);
              this.runningVar.assign(variance);
              this.numBatchesTracked += 1;
            },
          },
      { relu: options.relu === true },
    );
  }

  /**
   * Folds one batch's statistics into the running estimates, as torch does: the biased
   * `variance` over `count` values per channel becomes unbiased before averaging.
   */
  updateStatistics(mean: tf.Tensor1D, variance: tf.Tensor1D, count: number): void {
    tf.tidy(() => {
      const keep = 1 - this.momentum;
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, keep), tf.mul(mean, this.momentum)));
      this.runningVar.assign(
        tf.add(
          tf.mul(this.runningVar, keep),
          tf.mul(variance, (this.momentum * count) / (count - 1)),
        ),
      );
    });
    this.numBatchesTracked += 1;
  }

  /** The layer's tensors under their torchvision names (running estimates included). */
  entries(): Array<[string, tf.Variable]> {
    return [
      [`${this.key}.weight`, this.weight],
      [`${this.key}.bias`, this.bias],
      [`${this.key}.running_mean`, this.runningMean],
      [`${this.key}.running_var`, this.runningVar],
    ];
  }

  /** Releases the layer's variables. */
  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
    this.runningMean.dispose();
    this.runningVar.dispose();
  }
}
