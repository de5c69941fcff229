import { type AveragePrecisionDefinition, averagePrecisionResult } from "./average-precision";
import { rankClasses } from "./class-ranking";
import type { ClassAveragedResult } from "./class-result";
import { assertSameShape, type MatrixInput, readScoreMatrix, readTargetMatrix } from "./matrix";
import { MetricOptionError } from "./metrics-error";
import { rocAucResult } from "./roc-auc";

/** Options of {@link rankingMetrics}. */
export interface RankingMetricsOptions {
  /** The AP definition; `"mmpretrain"` by default. */
  readonly averagePrecision?: AveragePrecisionDefinition;
}

/** mAP and macro ROC AUC of one score matrix. */
export interface RankingMetrics {
  /** As {@link meanAveragePrecision} returns it. */
  readonly meanAveragePrecision: ClassAveragedResult;
  /** As {@link meanRocAuc} returns it. */
  readonly meanRocAuc: ClassAveragedResult;
}

/**
 * `meanAveragePrecision` and `meanRocAuc` together, from one validation and one sort per class
 * instead of two, with identical results. Use it for per-epoch evaluation.
 */
export function rankingMetrics(
  scores: MatrixInput,
  targets: MatrixInput,
  options: RankingMetricsOptions = {},
): RankingMetrics {
  const definition = options.averagePrecision ?? "mmpretrain";
  if (definition !== "mmpretrain" && definition !== "sklearn") {
    throw new MetricOptionError(
      "averagePrecision",
      `"${String(definition)}" is not "mmpretrain" or "sklearn"`,
    );
  }
  const scoreMatrix = readScoreMatrix(scores);
  const targetMatrix = readTargetMatrix(targets);
  assertSameShape(scoreMatrix, targetMatrix);
  const rankings = rankClasses(scoreMatrix, targetMatrix);
  return {
    meanAveragePrecision: averagePrecisionResult(rankings, definition),
    meanRocAuc: rocAucResult(rankings),
  };
}
