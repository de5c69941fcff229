import { averagePrecisionResult } from "./average-precision";
import { rankClasses } from "./class-ranking";
import { assertSameShape, type MatrixInput, readScoreMatrix, readTargetMatrix } from "./matrix";
import { MetricShapeError } from "./metrics-error";
import type { RankingMetrics, RankingMetricsOptions } from "./ranking-metrics";
import { rocAucResult } from "./roc-auc";

/** Options of {@link createMetricAccumulator}. */
export interface MetricAccumulatorOptions {
  /** The expected number of classes; taken from the first batch when omitted. */
  readonly classes?: number;
}

/** Options of {@link MetricAccumulator.compute}: those of `rankingMetrics`. */
export type AccumulatedMetricsOptions = RankingMetricsOptions;

/** mAP and macro AUC over every batch added, from one sort per class. */
export interface AccumulatedMetrics extends RankingMetrics {
  /** Samples seen. */
  readonly rows: number;
}

/** Everything added so far, row-major. */
export interface AccumulatedMatrices {
  /** Scores, `[rows, classes]`: float32 while every score added was an exact float32 value. */
  readonly scores: {
    readonly data: Float32Array | Float64Array;
    readonly shape: readonly [number, number];
  };
  /** Targets (0, 1 or -1), `[rows, classes]`. */
  readonly targets: { readonly data: Int8Array; readonly shape: readonly [number, number] };
}

/** Collects scores and targets batch by batch for metrics over a whole evaluation set. */
export interface MetricAccumulator {
  /** Validates a batch (errors name the batch, row and column) and keeps a copy of it. */
  add(batchScores: MatrixInput, batchTargets: MatrixInput): void;
  /** mAP and macro AUC over all batches added; the accumulator stays usable. */
  compute(options?: AccumulatedMetricsOptions): AccumulatedMetrics;
  /** The accumulated matrices, for other metrics (accuracy, F1, curves). */
  matrices(): AccumulatedMatrices;
  /** Forgets every batch (the class count stays when it was given). */
  reset(): void;
  /** Samples added so far. */
  readonly rows: number;
}

/**
 * Creates an accumulator for evaluation over large sets: `add(batchScores, batchTargets)` per
 * batch, then `compute()`. Scores may be logits or probabilities.
 */
export function createMetricAccumulator(options: MetricAccumulatorOptions = {}): MetricAccumulator {
  let classes = options.classes;
  let rows = 0;
  let batches = 0;
  // Scores stay float32 (half the memory, the faster sort) until a value that float32 cannot
  // hold exactly arrives; then the store widens to float64. Nothing is ever rounded.
  let scores: Float32Array | Float64Array = new Float32Array(0);
  let targets = new Int8Array(0);

  function grow(needed: number, wide: boolean): void {
    const widen = wide && scores instanceof Float32Array;
    if (needed <= scores.length && !widen) return;
    const capacity = Math.max(needed, scores.length * 2, 1024);
    const used = rows * (classes ?? 0);
    const nextScores =
      wide || scores instanceof Float64Array
        ? new Float64Array(capacity)
        : new Float32Array(capacity);
    nextScores.set(scores.subarray(0, used));
    const nextTargets = new Int8Array(capacity);
    nextTargets.set(targets.subarray(0, used));
    scores = nextScores;
    targets = nextTargets;
  }

  function snapshot(): AccumulatedMatrices {
    const columns = classes ?? 0;
    const shape = [rows, columns] as const;
    return {
      scores: { data: scores.slice(0, rows * columns), shape },
      targets: { data: targets.slice(0, rows * columns), shape },
    };
  }

  return {
    get rows() {
      return rows;
    },
    add(batchScores, batchTargets) {
      const label = `batch ${batches}`;
      const scoreMatrix = readScoreMatrix(batchScores, `${label} scores`);
      const targetMatrix = readTargetMatrix(batchTargets, `${label} targets`);
      assertSameShape(scoreMatrix, targetMatrix, [`${label} scores`, `${label} targets`]);
      if (scoreMatrix.rows === 0) {
        batches++;
        return;
      }
      if (classes === undefined) classes = scoreMatrix.columns;
      if (scoreMatrix.columns !== classes) {
        throw new MetricShapeError(
          `${label} scores`,
          undefined,
          `has ${scoreMatrix.columns} classes but the accumulator has ${classes}`,
        );
      }
      grow((rows + scoreMatrix.rows) * classes, !isFloat32Exact(scoreMatrix.data));
      scores.set(scoreMatrix.data, rows * classes);
      targets.set(targetMatrix.data, rows * classes);
      rows += scoreMatrix.rows;
      batches++;
    },
    compute(computeOptions = {}) {
      if (rows === 0) throw new MetricShapeError("accumulator", undefined, "has no rows yet");
      const columns = classes ?? 0;
      const view = (data: Float32Array | Float64Array | Int8Array) => ({
        rows,
        columns,
        data: data.subarray(0, rows * columns),
      });
      // Batches were validated on the way in, so rank the stored arrays directly.
      const rankings = rankClasses(view(scores), view(targets));
      return {
        rows,
        meanAveragePrecision: averagePrecisionResult(
          rankings,
          computeOptions.averagePrecision ?? "mmpretrain",
        ),
        meanRocAuc: rocAucResult(rankings),
      };
    },
    matrices: snapshot,
    reset() {
      rows = 0;
      batches = 0;
      classes = options.classes;
      scores = new Float32Array(0);
      targets = new Int8Array(0);
    },
  };
}

function isFloat32Exact(data: ArrayLike<number>): boolean {
  if (data instanceof Float32Array) return true;
  for (let index = 0; index < data.length; index++) {
    if (Math.fround(data[index]) !== data[index]) return false;
  }
  return true;
}
