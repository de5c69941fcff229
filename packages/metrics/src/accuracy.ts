import {
  isMatrixInput,
  type MatrixInput,
  type NumericArray,
  readClassLabels,
  readScoreMatrix,
} from "./matrix";
import { MetricOptionError, MetricShapeError } from "./metrics-error";

/** Options of {@link accuracy}. */
export interface AccuracyOptions {
  /** A sample counts as correct when its class is among the `topK` highest scores; 1 by default. */
  readonly topK?: number;
}

/**
 * Top-k accuracy for multi-class scores, as a fraction (0 to 1), like mmpretrain's `Accuracy`.
 * `targets` are class indices (one per row) or a one-hot matrix. Among tied scores the lower
 * class index ranks first, as `argmax` does. Scores may be logits or probabilities.
 */
export function accuracy(
  scores: MatrixInput,
  targets: NumericArray | MatrixInput,
  options: AccuracyOptions = {},
): number {
  const topK = options.topK ?? 1;
  const matrix = readScoreMatrix(scores);
  if (!Number.isInteger(topK) || topK < 1 || topK > matrix.columns) {
    throw new MetricOptionError(
      "topK",
      `${topK} is not an integer from 1 to the ${matrix.columns} classes`,
    );
  }
  const labels = readClassLabels(targets, matrix.columns);
  if (labels.length !== matrix.rows) {
    throw new MetricShapeError(
      "targets",
      undefined,
      `has ${labels.length} ${isMatrixInput(targets) ? "rows" : "labels"} but scores have ${matrix.rows} rows`,
    );
  }
  if (matrix.rows === 0) throw new MetricShapeError("scores", undefined, "has no rows");
  let correct = 0;
  for (let row = 0; row < matrix.rows; row++) {
    if (classRank(matrix.data, row * matrix.columns, matrix.columns, labels[row]) < topK) correct++;
  }
  return correct / matrix.rows;
}

/**
 * The 0-based rank of class `label` within one row: classes scoring higher, plus classes scoring
 * equal with a lower index.
 */
export function classRank(
  data: ArrayLike<number>,
  offset: number,
  columns: number,
  label: number,
): number {
  const score = data[offset + label];
  let rank = 0;
  for (let column = 0; column < columns; column++) {
    const other = data[offset + column];
    if (other > score || (other === score && column < label)) rank++;
  }
  return rank;
}
