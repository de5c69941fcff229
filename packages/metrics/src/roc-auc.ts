import { type ClassRanking, rankClass, rankClasses } from "./class-ranking";
import { type ClassAveragedResult, type ClassFlag, meanExcluding } from "./class-result";
import {
  assertSameShape,
  type MatrixInput,
  type NumericArray,
  readScoreMatrix,
  readScoreVector,
  readTargetMatrix,
  readTargetVector,
} from "./matrix";
import { MetricShapeError } from "./metrics-error";

/**
 * Area under the ROC curve of one class, equal to sklearn's `roc_auc_score`: tied scores form
 * one threshold (the trapezoid between its neighbours counts a tie as half). `scores` may be
 * logits or probabilities; only their order matters. Targets are 0 or 1; -1 leaves the sample
 * out. Returns NaN when the targets hold only one value, where sklearn raises an error.
 */
export function rocAuc(scores: NumericArray, targets: NumericArray): number {
  const scoreVector = readScoreVector(scores);
  const targetVector = readTargetVector(targets);
  if (scoreVector.rows !== targetVector.rows) {
    throw new MetricShapeError(
      "targets",
      undefined,
      `has ${targetVector.rows} values but scores have ${scoreVector.rows}`,
    );
  }
  return rankClass(scoreVector.data, targetVector.data).rocAuc;
}

/** Builds the macro AUC result from per-class rankings; shared with the accumulator. */
export function rocAucResult(rankings: readonly ClassRanking[]): ClassAveragedResult {
  const perClass = rankings.map((ranking) => ranking.rocAuc);
  const flags: ClassFlag[] = [];
  const excluded = new Set<number>();
  rankings.forEach((ranking, classIndex) => {
    if (ranking.positives > 0 && ranking.negatives > 0) return;
    excluded.add(classIndex);
    const kind =
      ranking.positives === 0 && ranking.negatives === 0
        ? "no-samples"
        : ranking.positives === 0
          ? "no-positives"
          : "no-negatives";
    const what =
      kind === "no-samples"
        ? "has no target other than -1"
        : kind === "no-positives"
          ? "has no positive target"
          : "has no negative target";
    flags.push({
      classIndex,
      kind,
      excludedFromMean: true,
      note: `class ${classIndex} ${what}; its AUC is undefined (NaN) and left out of the mean`,
    });
  });
  return { value: meanExcluding(perClass, excluded), perClass, flags };
}

/**
 * Macro ROC AUC over classes (columns): each class as sklearn's `roc_auc_score`, then the mean.
 * A class whose targets are all one value gets NaN, is flagged, and is left out of the mean
 * (the MedFM baseline copied the previous class's value instead). NaN when every class is out.
 */
export function meanRocAuc(scores: MatrixInput, targets: MatrixInput): ClassAveragedResult {
  const scoreMatrix = readScoreMatrix(scores);
  const targetMatrix = readTargetMatrix(targets);
  assertSameShape(scoreMatrix, targetMatrix);
  return rocAucResult(rankClasses(scoreMatrix, targetMatrix));
}
