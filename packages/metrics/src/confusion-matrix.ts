import {
  isMatrixInput,
  type MatrixInput,
  type NumericArray,
  readClassLabels,
  readScoreMatrix,
} from "./matrix";
import { MetricOptionError, MetricShapeError } from "./metrics-error";

/** Counts of (true class, predicted class) pairs. */
export interface ConfusionMatrix {
  /** Number of classes. */
  readonly classes: number;
  /** `counts[trueClass][predictedClass]`, as sklearn's `confusion_matrix` lays it out. */
  readonly counts: number[][];
}

/** Sensitivity and specificity of one class against all others, with the counts behind them. */
export interface SensitivitySpecificity {
  /** TP / (TP + FN), the recall of the positive class; NaN without positive targets. */
  readonly sensitivity: number;
  /** TN / (TN + FP), the recall of the other classes; NaN without negative targets. */
  readonly specificity: number;
  /** Positives predicted positive. */
  readonly truePositives: number;
  /** Positives predicted otherwise. */
  readonly falseNegatives: number;
  /** Negatives predicted otherwise. */
  readonly trueNegatives: number;
  /** Negatives predicted positive. */
  readonly falsePositives: number;
}

/** Options of {@link sensitivitySpecificity}. */
export interface SensitivitySpecificityOptions {
  /** The class counted as positive; 1 by default (colon's `positive (tumor)`). */
  readonly positiveClass?: number;
}

/**
 * The confusion matrix of multi-class scores: each row is predicted as its highest-scoring class
 * (the lower index among ties, as `argmax`). `targets` are class indices or one-hot rows.
 */
export function confusionMatrix(
  scores: MatrixInput,
  targets: NumericArray | MatrixInput,
): ConfusionMatrix {
  const matrix = readScoreMatrix(scores);
  const labels = readClassLabels(targets, matrix.columns);
  if (labels.length !== matrix.rows) {
    throw new MetricShapeError(
      "targets",
      undefined,
      `has ${labels.length} ${isMatrixInput(targets) ? "rows" : "labels"} but scores have ${matrix.rows} rows`,
    );
  }
  const classes = matrix.columns;
  const counts = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let row = 0; row < matrix.rows; row++) {
    const offset = row * classes;
    let best = 0;
    for (let column = 1; column < classes; column++) {
      if (matrix.data[offset + column] > matrix.data[offset + best]) best = column;
    }
    counts[labels[row]][best]++;
  }
  return { classes, counts };
}

/**
 * Sensitivity and specificity of `positiveClass` (1 by default) from multi-class scores, each row
 * predicted as its highest-scoring class. `targets` are class indices or one-hot rows.
 */
export function sensitivitySpecificity(
  scores: MatrixInput,
  targets: NumericArray | MatrixInput,
  options: SensitivitySpecificityOptions = {},
): SensitivitySpecificity {
  const { classes, counts } = confusionMatrix(scores, targets);
  const positive = options.positiveClass ?? 1;
  if (!Number.isInteger(positive) || positive < 0 || positive >= classes) {
    throw new MetricOptionError(
      "positiveClass",
      `${positive} is not a class index from 0 to ${classes - 1}`,
    );
  }
  let truePositives = 0;
  let falseNegatives = 0;
  let trueNegatives = 0;
  let falsePositives = 0;
  for (let actual = 0; actual < classes; actual++) {
    for (let predicted = 0; predicted < classes; predicted++) {
      const count = counts[actual][predicted];
      if (actual === positive) {
        if (predicted === positive) truePositives += count;
        else falseNegatives += count;
      } else if (predicted === positive) falsePositives += count;
      else trueNegatives += count;
    }
  }
  return {
    sensitivity: truePositives / (truePositives + falseNegatives),
    specificity: trueNegatives / (trueNegatives + falsePositives),
    truePositives,
    falseNegatives,
    trueNegatives,
    falsePositives,
  };
}
