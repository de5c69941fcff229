import { assertSameShape, type MatrixInput, readScoreMatrix, readTargetMatrix } from "./matrix";
import { MetricOptionError } from "./metrics-error";

/** Options of {@link multiLabelF1}: give at most one of `threshold` and `topK`. */
export interface MultiLabelF1Options {
  /**
   * A label is predicted positive when its score is `>= threshold`; 0.5 by default, as in
   * mmpretrain. That suits probabilities; for logits the same cut is 0.
   */
  readonly threshold?: number;
  /** Instead of a threshold, the `topK` highest scores of each row are predicted positive (ties go to the lower class index). */
  readonly topK?: number;
}

/** Precision, recall and F1 per class and averaged, as fractions (0 to 1). */
export interface MultiLabelF1Result {
  /** Macro (per-class) precision: the mean over classes of TP / predicted positives. */
  readonly CP: number;
  /** Macro recall: the mean over classes of TP / actual positives. */
  readonly CR: number;
  /** Macro F1: the mean over classes of each class's F1 (not the F1 of CP and CR), as mmpretrain. */
  readonly CF1: number;
  /** Micro (overall) precision: all TP / all predicted positives. */
  readonly OP: number;
  /** Micro recall: all TP / all actual positives. */
  readonly OR: number;
  /** Micro F1: the harmonic mean of OP and OR. */
  readonly OF1: number;
  /** Per-class values, in column order. */
  readonly perClass: {
    readonly precision: number[];
    readonly recall: number[];
    readonly f1: number[];
    /** Actual positives of each class (targets of -1 excluded). */
    readonly support: number[];
  };
}

function f1(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/**
 * Multi-label precision, recall and F1 at a threshold or top-k, per class, macro (CP, CR, CF1)
 * and micro (OP, OR, OF1), as mmpretrain's `MultiLabelMetric` computes them but as fractions.
 * A target of -1 counts neither as a positive nor as a prediction. A precision or recall with
 * nothing to divide by is 0.
 */
export function multiLabelF1(
  scores: MatrixInput,
  targets: MatrixInput,
  options: MultiLabelF1Options = {},
): MultiLabelF1Result {
  const scoreMatrix = readScoreMatrix(scores);
  const targetMatrix = readTargetMatrix(targets);
  assertSameShape(scoreMatrix, targetMatrix);
  const { rows, columns } = scoreMatrix;
  if (options.threshold !== undefined && options.topK !== undefined) {
    throw new MetricOptionError("topK", "give either threshold or topK, not both");
  }
  const topK = options.topK;
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1 || topK > columns)) {
    throw new MetricOptionError(
      "topK",
      `${topK} is not an integer from 1 to the ${columns} classes`,
    );
  }
  const threshold = options.threshold ?? 0.5;
  if (Number.isNaN(threshold)) throw new MetricOptionError("threshold", "is NaN");

  const truePositives = new Float64Array(columns);
  const predicted = new Float64Array(columns);
  const actual = new Float64Array(columns);
  const rowPredicted = new Uint8Array(columns);
  for (let row = 0; row < rows; row++) {
    const offset = row * columns;
    if (topK === undefined) {
      for (let column = 0; column < columns; column++) {
        rowPredicted[column] = scoreMatrix.data[offset + column] >= threshold ? 1 : 0;
      }
    } else {
      markTopK(scoreMatrix.data, offset, columns, topK, rowPredicted);
    }
    for (let column = 0; column < columns; column++) {
      const target = targetMatrix.data[offset + column];
      if (target === -1) continue;
      const positive = rowPredicted[column];
      predicted[column] += positive;
      if (target === 1) {
        actual[column] += 1;
        truePositives[column] += positive;
      }
    }
  }
  const precision: number[] = [];
  const recall: number[] = [];
  const f1PerClass: number[] = [];
  let totalTruePositives = 0;
  let totalPredicted = 0;
  let totalActual = 0;
  for (let column = 0; column < columns; column++) {
    const classPrecision = truePositives[column] / Math.max(predicted[column], 1);
    const classRecall = truePositives[column] / Math.max(actual[column], 1);
    precision.push(classPrecision);
    recall.push(classRecall);
    f1PerClass.push(f1(classPrecision, classRecall));
    totalTruePositives += truePositives[column];
    totalPredicted += predicted[column];
    totalActual += actual[column];
  }
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const overallPrecision = totalTruePositives / Math.max(totalPredicted, 1);
  const overallRecall = totalTruePositives / Math.max(totalActual, 1);
  return {
    CP: mean(precision),
    CR: mean(recall),
    CF1: mean(f1PerClass),
    OP: overallPrecision,
    OR: overallRecall,
    OF1: f1(overallPrecision, overallRecall),
    perClass: { precision, recall, f1: f1PerClass, support: Array.from(actual) },
  };
}

function markTopK(
  data: ArrayLike<number>,
  offset: number,
  columns: number,
  topK: number,
  out: Uint8Array,
): void {
  // Rank each class within its row (higher score first, lower index first among ties).
  for (let column = 0; column < columns; column++) {
    const score = data[offset + column];
    let rank = 0;
    for (let other = 0; other < columns && rank < topK; other++) {
      const value = data[offset + other];
      if (value > score || (value === score && other < column)) rank++;
    }
    out[column] = rank < topK ? 1 : 0;
  }
}
