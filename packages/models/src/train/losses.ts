import * as tf from "@tensorflow/tfjs";

/** A loss over a batch: logits and targets of shape `[batch, classes]`, returns a scalar. */
export type LossFunction = (logits: tf.Tensor2D, targets: tf.Tensor2D) => tf.Scalar;

/** Options of {@link binaryCrossEntropyWithLogits}. */
export interface BinaryCrossEntropyOptions {
  /** Weight of the positive term per class (torch's `pos_weight`), for imbalanced labels. */
  posWeight?: readonly number[];
}

/**
 * Mean binary cross-entropy on logits, numerically stable, equal to torch's
 * `BCEWithLogitsLoss(pos_weight=...)`. Targets of -1 are ignored (masked out of the mean).
 */
export function binaryCrossEntropyWithLogits(
  options: BinaryCrossEntropyOptions = {},
): LossFunction {
  return (logits, targets) =>
    tf.tidy(() => {
      const mask = targets.greaterEqual(0).cast("float32");
      const y = targets.mul(mask);
      // log(1 + exp(-|x|)) + max(-x, 0) = softplus(-x) = -log σ(x)
      const logSigmoidNegative = tf.softplus(logits.neg());
      let perElement: tf.Tensor;
      if (options.posWeight) {
        const weight = tf.tensor1d([...options.posWeight]).sub(1);
        // (1 − y)·x + (1 + (w − 1)·y)·softplus(−x)
        perElement = tf
          .scalar(1)
          .sub(y)
          .mul(logits)
          .add(weight.mul(y).add(1).mul(logSigmoidNegative));
      } else {
        perElement = tf.scalar(1).sub(y).mul(logits).add(logSigmoidNegative);
      }
      return perElement.mul(mask).sum().div(mask.sum().maximum(1)) as tf.Scalar;
    });
}

/** Options of {@link softmaxCrossEntropy}. */
export interface SoftmaxCrossEntropyOptions {
  /** Label smoothing ε: targets become (1 − ε)·y + ε / classes. Default 0. */
  labelSmoothing?: number;
}

/** Mean softmax cross-entropy for one-hot (or soft) targets, as torch's `CrossEntropyLoss`. */
export function softmaxCrossEntropy(options: SoftmaxCrossEntropyOptions = {}): LossFunction {
  const smoothing = options.labelSmoothing ?? 0;
  return (logits, targets) =>
    tf.tidy(() => {
      const classes = logits.shape[1];
      const y = smoothing ? targets.mul(1 - smoothing).add(smoothing / classes) : targets;
      return tf.logSoftmax(logits).mul(y).sum(1).neg().mean() as tf.Scalar;
    });
}

/** Options of {@link asymmetricLoss}. */
export interface AsymmetricLossOptions {
  /** Focusing parameter for negatives. Default 4. */
  gammaNegative?: number;
  /** Focusing parameter for positives. Default 0. */
  gammaPositive?: number;
  /** Probability margin shifted off negatives. Default 0.05. */
  clip?: number;
}

/**
 * Asymmetric loss (Ridnik et al. 2021) for heavily imbalanced multi-label data such as chest:
 * down-weights easy negatives. Summed over classes, averaged over the batch.
 */
export function asymmetricLoss(options: AsymmetricLossOptions = {}): LossFunction {
  const gammaNegative = options.gammaNegative ?? 4;
  const gammaPositive = options.gammaPositive ?? 0;
  const clip = options.clip ?? 0.05;
  return (logits, targets) =>
    tf.tidy(() => {
      const eps = 1e-8;
      const probability = tf.sigmoid(logits);
      const negativeProbability = clip
        ? tf.scalar(1).sub(probability).add(clip).minimum(1)
        : tf.scalar(1).sub(probability);
      const positiveTerm = targets.mul(probability.maximum(eps).log());
      const negativeTerm = tf.scalar(1).sub(targets).mul(negativeProbability.maximum(eps).log());
      const positiveWeight = tf.scalar(1).sub(probability).pow(gammaPositive);
      const negativeWeight = tf.scalar(1).sub(negativeProbability).pow(gammaNegative);
      const weight = targets.mul(positiveWeight).add(tf.scalar(1).sub(targets).mul(negativeWeight));
      return positiveTerm.add(negativeTerm).mul(weight).sum(1).neg().mean() as tf.Scalar;
    });
}
