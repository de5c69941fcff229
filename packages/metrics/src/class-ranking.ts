import { type DenseMatrix, matrixColumns } from "./matrix";
import { sortDescending } from "./rank-order";

/** What one sort of one class's scores yields: counts, both AP definitions and ROC AUC. */
export interface ClassRanking {
  /** Samples with target 1. */
  readonly positives: number;
  /** Samples with target 0. */
  readonly negatives: number;
  /** AP as mmpretrain defines it; 0 when there is no positive. */
  readonly averagePrecision: number;
  /** AP as sklearn's `average_precision_score` defines it; 0 when there is no positive. */
  readonly averagePrecisionSklearn: number;
  /** ROC AUC as sklearn's `roc_auc_score`; NaN when positives or negatives are absent. */
  readonly rocAuc: number;
}

/**
 * Ranks one class: samples whose target is -1 are left out, the rest sorted by score descending
 * (ties by sample index), then AP and AUC are read off in one pass.
 */
export function rankClass(
  scores: Float64Array | Float32Array,
  targets: ArrayLike<number>,
): ClassRanking {
  let ignored = 0;
  for (let index = 0; index < targets.length; index++) if (targets[index] === -1) ignored++;
  if (ignored > 0) {
    const keptScores =
      scores instanceof Float32Array
        ? new Float32Array(targets.length - ignored)
        : new Float64Array(targets.length - ignored);
    const keptTargets = new Int8Array(targets.length - ignored);
    for (let index = 0, kept = 0; index < targets.length; index++) {
      if (targets[index] === -1) continue;
      keptScores[kept] = scores[index];
      keptTargets[kept] = targets[index];
      kept++;
    }
    scores = keptScores;
    targets = keptTargets;
  }
  const count = scores.length;
  const labels = new Uint8Array(count);
  for (let index = 0; index < count; index++) labels[index] = targets[index];
  const { high, low, payload: sortedLabels } = sortDescending(scores, labels);

  // mmpretrain: precision at each positive's rank (ties in index order), summed.
  let precisionSum = 0;
  // sklearn AP: precision at each distinct threshold times the recall gained there.
  let sklearnSum = 0;
  // Twice the trapezoidal ROC area in counts: sum of dFP * (TP_before + TP_after). Integer, exact.
  let doubleArea = 0;
  let truePositives = 0;
  let falsePositives = 0;
  let groupTruePositives = 0;
  let groupFalsePositives = 0;
  for (let position = 0; position < count; position++) {
    if (sortedLabels[position] === 1) {
      truePositives++;
      precisionSum += truePositives / (position + 1);
    } else {
      falsePositives++;
    }
    const next = position + 1;
    // Equal keys are equal scores: a tied group ends where the key changes.
    if (
      next < count &&
      high[next] === high[position] &&
      (low === undefined || low[next] === low[position])
    ) {
      continue;
    }
    const gainedPositives = truePositives - groupTruePositives;
    if (gainedPositives > 0) {
      sklearnSum += gainedPositives * (truePositives / (truePositives + falsePositives));
    }
    doubleArea += (falsePositives - groupFalsePositives) * (truePositives + groupTruePositives);
    groupTruePositives = truePositives;
    groupFalsePositives = falsePositives;
  }
  const positives = truePositives;
  const negatives = falsePositives;
  return {
    positives,
    negatives,
    averagePrecision: positives === 0 ? 0 : precisionSum / positives,
    averagePrecisionSklearn: positives === 0 ? 0 : sklearnSum / positives,
    rocAuc:
      positives === 0 || negatives === 0 ? Number.NaN : doubleArea / (2 * positives * negatives),
  };
}

/** Ranks every class (column) of validated, same-shape matrices. */
export function rankClasses(scores: DenseMatrix, targets: DenseMatrix): ClassRanking[] {
  const rankings: ClassRanking[] = [];
  // Transposing once, row by row, is far cheaper than gathering each column with a stride.
  const scoreColumns: (Float64Array | Float32Array)[] =
    scores.data instanceof Float32Array
      ? matrixColumns(scores, (length) => new Float32Array(length))
      : matrixColumns(scores, (length) => new Float64Array(length));
  const targetColumns = matrixColumns(targets, (length) => new Int8Array(length));
  for (let column = 0; column < scores.columns; column++) {
    rankings.push(rankClass(scoreColumns[column], targetColumns[column]));
  }
  return rankings;
}
