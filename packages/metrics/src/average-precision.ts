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
import { MetricOptionError, MetricShapeError } from "./metrics-error";

/**
 * Which definition of average precision to use. They agree when no two scores tie.
 * - `"mmpretrain"` (default, what the MedFM challenge reports): samples sorted by score
 *   descending, ties kept in sample order; AP is the mean, over positives, of the precision at
 *   each positive's rank. Within a group of tied scores, a positive listed earlier is credited
 *   with a higher precision than one listed later, so the value depends on row order.
 * - `"sklearn"`: scikit-learn's `average_precision_score`: a tied group is one threshold, and
 *   every positive in it gets the precision of the whole group. Independent of row order.
 */
export type AveragePrecisionDefinition = "mmpretrain" | "sklearn";

/** Options of {@link averagePrecision} and {@link meanAveragePrecision}. */
export interface AveragePrecisionOptions {
  /** The AP definition; `"mmpretrain"` by default. */
  readonly definition?: AveragePrecisionDefinition;
}

function pick(ranking: ClassRanking, definition: AveragePrecisionDefinition): number {
  return definition === "sklearn" ? ranking.averagePrecisionSklearn : ranking.averagePrecision;
}

function checkDefinition(options: AveragePrecisionOptions): AveragePrecisionDefinition {
  const definition = options.definition ?? "mmpretrain";
  if (definition !== "mmpretrain" && definition !== "sklearn") {
    throw new MetricOptionError(
      "definition",
      `"${String(definition)}" is not "mmpretrain" or "sklearn"`,
    );
  }
  return definition;
}

/**
 * Average precision of one class, as a fraction (0 to 1). `scores` may be logits or
 * probabilities: AP depends only on the order of the scores. `targets` are 0 or 1; a -1 leaves
 * that sample out. With no positive target the AP is 0 (mmpretrain's convention).
 */
export function averagePrecision(
  scores: NumericArray,
  targets: NumericArray,
  options: AveragePrecisionOptions = {},
): number {
  const definition = checkDefinition(options);
  const scoreVector = readScoreVector(scores);
  const targetVector = readTargetVector(targets);
  if (scoreVector.rows !== targetVector.rows) {
    throw new MetricShapeError(
      "targets",
      undefined,
      `has ${targetVector.rows} values but scores have ${scoreVector.rows}`,
    );
  }
  return pick(rankClass(scoreVector.data, targetVector.data), definition);
}

/** Builds the AP result from per-class rankings; shared with the accumulator. */
export function averagePrecisionResult(
  rankings: readonly ClassRanking[],
  definition: AveragePrecisionDefinition = "mmpretrain",
): ClassAveragedResult {
  const perClass = rankings.map((ranking) => pick(ranking, definition));
  const flags: ClassFlag[] = [];
  rankings.forEach((ranking, classIndex) => {
    if (ranking.positives > 0) return;
    const kind = ranking.negatives === 0 ? "no-samples" : "no-positives";
    flags.push({
      classIndex,
      kind,
      excludedFromMean: false,
      note: `class ${classIndex} has no positive target; its AP is 0 and stays in the mean`,
    });
  });
  return { value: meanExcluding(perClass, new Set()), perClass, flags };
}

/**
 * Mean average precision over classes (columns), as mmpretrain's `AveragePrecision` computes
 * it but as a fraction (0 to 1) rather than a percentage. A class without positives scores 0,
 * stays in the mean and is flagged. Targets of -1 are ignored. Scores may be logits or
 * probabilities.
 */
export function meanAveragePrecision(
  scores: MatrixInput,
  targets: MatrixInput,
  options: AveragePrecisionOptions = {},
): ClassAveragedResult {
  const definition = checkDefinition(options);
  const scoreMatrix = readScoreMatrix(scores);
  const targetMatrix = readTargetMatrix(targets);
  assertSameShape(scoreMatrix, targetMatrix);
  return averagePrecisionResult(rankClasses(scoreMatrix, targetMatrix), definition);
}
