import {
  assertSameShape,
  type DenseMatrix,
  type MatrixInput,
  matrixColumn,
  type NumericArray,
  readScoreMatrix,
  readScoreVector,
  readTargetMatrix,
  readTargetVector,
} from "./matrix";
import { MetricOptionError, MetricShapeError } from "./metrics-error";
import { descendingOrder } from "./rank-order";

/** Options of the curve functions. */
export interface CurveOptions {
  /**
   * Keep at most this many points (at least 2), spread evenly along the curve's length; the first
   * and last points are always kept. All points by default.
   */
  readonly maxPoints?: number;
}

/** ROC curve points, in sklearn `roc_curve` order: from (0, 0) towards (1, 1). */
export interface RocCurve {
  /** False positive rate at each point. */
  readonly falsePositiveRate: number[];
  /** True positive rate at each point. */
  readonly truePositiveRate: number[];
  /** The score at or above which samples are predicted positive; `Infinity` for the first point. */
  readonly thresholds: number[];
}

/**
 * Precision-recall points, in sklearn `precision_recall_curve` order: thresholds ascending, then
 * a last point (recall 0, precision 1) without a threshold.
 */
export interface PrecisionRecallCurve {
  /** Precision at each point. */
  readonly precision: number[];
  /** Recall at each point. */
  readonly recall: number[];
  /** One threshold per point but the last (so one shorter than `precision`). */
  readonly thresholds: number[];
}

interface ThresholdCounts {
  thresholds: number[];
  truePositives: number[];
  falsePositives: number[];
  positives: number;
  negatives: number;
}

/** Cumulative TP and FP at each distinct score, descending (sklearn's `_binary_clf_curve`). */
function thresholdCounts(scores: Float64Array, targets: Float64Array): ThresholdCounts {
  let kept = 0;
  for (let index = 0; index < targets.length; index++) if (targets[index] !== -1) kept++;
  const keptScores = new Float64Array(kept);
  const keptTargets = new Float64Array(kept);
  for (let index = 0, position = 0; index < targets.length; index++) {
    if (targets[index] === -1) continue;
    keptScores[position] = scores[index];
    keptTargets[position] = targets[index];
    position++;
  }
  const order = descendingOrder(keptScores);
  const result: ThresholdCounts = {
    thresholds: [],
    truePositives: [],
    falsePositives: [],
    positives: 0,
    negatives: 0,
  };
  let truePositives = 0;
  let falsePositives = 0;
  for (let position = 0; position < kept; position++) {
    const index = order[position];
    if (keptTargets[index] === 1) truePositives++;
    else falsePositives++;
    if (position < kept - 1 && keptScores[order[position + 1]] === keptScores[index]) continue;
    result.thresholds.push(keptScores[index]);
    result.truePositives.push(truePositives);
    result.falsePositives.push(falsePositives);
  }
  result.positives = truePositives;
  result.negatives = falsePositives;
  return result;
}

function checkMaxPoints(options: CurveOptions): number {
  const maxPoints = options.maxPoints ?? Number.POSITIVE_INFINITY;
  if (maxPoints !== Number.POSITIVE_INFINITY && (!Number.isInteger(maxPoints) || maxPoints < 2)) {
    throw new MetricOptionError("maxPoints", `${maxPoints} is not an integer of at least 2`);
  }
  return maxPoints;
}

/**
 * Indices of at most `maxPoints` points spread evenly along the polyline's L1 length, first and
 * last included, so that flat stretches do not use up the budget.
 */
function downsample(x: readonly number[], y: readonly number[], maxPoints: number): number[] {
  const count = x.length;
  if (count <= maxPoints) return Array.from(x.keys());
  const length = new Float64Array(count);
  for (let index = 1; index < count; index++) {
    length[index] =
      length[index - 1] + Math.abs(x[index] - x[index - 1]) + Math.abs(y[index] - y[index - 1]);
  }
  const total = length[count - 1];
  const kept = [0];
  let index = 1;
  for (let step = 1; step < maxPoints - 1; step++) {
    const target = (total * step) / (maxPoints - 1);
    while (index < count - 1 && length[index] < target) index++;
    if (index >= count - 1) break;
    if (index !== kept[kept.length - 1]) kept.push(index);
    index++;
  }
  kept.push(count - 1);
  return kept;
}

function readVectors(scores: NumericArray, targets: NumericArray) {
  const scoreVector = readScoreVector(scores);
  const targetVector = readTargetVector(targets);
  if (scoreVector.rows !== targetVector.rows) {
    throw new MetricShapeError(
      "targets",
      undefined,
      `has ${targetVector.rows} values but scores have ${scoreVector.rows}`,
    );
  }
  return [scoreVector.data, targetVector.data] as const;
}

function buildRocCurve(scores: Float64Array, targets: Float64Array, maxPoints: number): RocCurve {
  const counts = thresholdCounts(scores, targets);
  const falsePositiveRate = [0];
  const truePositiveRate = [0];
  const thresholds = [Number.POSITIVE_INFINITY];
  counts.thresholds.forEach((threshold, index) => {
    // 0/0 (no negatives or no positives) is NaN, as sklearn's roc_curve gives with a warning.
    falsePositiveRate.push(counts.falsePositives[index] / counts.negatives);
    truePositiveRate.push(counts.truePositives[index] / counts.positives);
    thresholds.push(threshold);
  });
  const kept = downsample(falsePositiveRate, truePositiveRate, maxPoints);
  return {
    falsePositiveRate: kept.map((index) => falsePositiveRate[index]),
    truePositiveRate: kept.map((index) => truePositiveRate[index]),
    thresholds: kept.map((index) => thresholds[index]),
  };
}

function buildPrecisionRecallCurve(
  scores: Float64Array,
  targets: Float64Array,
  maxPoints: number,
): PrecisionRecallCurve {
  const counts = thresholdCounts(scores, targets);
  const precision: number[] = [];
  const recall: number[] = [];
  const thresholds: number[] = [];
  for (let index = counts.thresholds.length - 1; index >= 0; index--) {
    const truePositives = counts.truePositives[index];
    precision.push(truePositives / (truePositives + counts.falsePositives[index]));
    // Without positives sklearn sets recall to 1 at every threshold.
    recall.push(counts.positives === 0 ? 1 : truePositives / counts.positives);
    thresholds.push(counts.thresholds[index]);
  }
  precision.push(1);
  recall.push(0);
  const kept = downsample(recall, precision, maxPoints);
  return {
    precision: kept.map((index) => precision[index]),
    recall: kept.map((index) => recall[index]),
    thresholds: kept.filter((index) => index < thresholds.length).map((index) => thresholds[index]),
  };
}

/** ROC curve points of one class, as sklearn's `roc_curve(drop_intermediate=False)`. Targets of -1 are left out. */
export function rocCurve(
  scores: NumericArray,
  targets: NumericArray,
  options: CurveOptions = {},
): RocCurve {
  const maxPoints = checkMaxPoints(options);
  const [scoreData, targetData] = readVectors(scores, targets);
  return buildRocCurve(scoreData, targetData, maxPoints);
}

/** Precision-recall points of one class, as sklearn's `precision_recall_curve`. Targets of -1 are left out. */
export function precisionRecallCurve(
  scores: NumericArray,
  targets: NumericArray,
  options: CurveOptions = {},
): PrecisionRecallCurve {
  const maxPoints = checkMaxPoints(options);
  const [scoreData, targetData] = readVectors(scores, targets);
  return buildPrecisionRecallCurve(scoreData, targetData, maxPoints);
}

function readMatrices(scores: MatrixInput, targets: MatrixInput): [DenseMatrix, DenseMatrix] {
  const scoreMatrix = readScoreMatrix(scores);
  const targetMatrix = readTargetMatrix(targets);
  assertSameShape(scoreMatrix, targetMatrix);
  return [scoreMatrix, targetMatrix];
}

/** ROC curve points of every class (column), for plots. */
export function rocCurves(
  scores: MatrixInput,
  targets: MatrixInput,
  options: CurveOptions = {},
): RocCurve[] {
  const maxPoints = checkMaxPoints(options);
  const [scoreMatrix, targetMatrix] = readMatrices(scores, targets);
  return Array.from({ length: scoreMatrix.columns }, (_, column) =>
    buildRocCurve(matrixColumn(scoreMatrix, column), matrixColumn(targetMatrix, column), maxPoints),
  );
}

/** Precision-recall points of every class (column), for plots. */
export function precisionRecallCurves(
  scores: MatrixInput,
  targets: MatrixInput,
  options: CurveOptions = {},
): PrecisionRecallCurve[] {
  const maxPoints = checkMaxPoints(options);
  const [scoreMatrix, targetMatrix] = readMatrices(scores, targets);
  return Array.from({ length: scoreMatrix.columns }, (_, column) =>
    buildPrecisionRecallCurve(
      matrixColumn(scoreMatrix, column),
      matrixColumn(targetMatrix, column),
      maxPoints,
    ),
  );
}
