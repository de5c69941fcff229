export {
  type AccumulatedMatrices,
  type AccumulatedMetrics,
  type AccumulatedMetricsOptions,
  createMetricAccumulator,
  type MetricAccumulator,
  type MetricAccumulatorOptions,
} from "./accumulator";
export { type AccuracyOptions, accuracy } from "./accuracy";
export {
  type AveragePrecisionDefinition,
  type AveragePrecisionOptions,
  averagePrecision,
  meanAveragePrecision,
} from "./average-precision";
export {
  type ChallengeResult,
  type ChallengeScore,
  type ChallengeTask,
  challengeMetrics,
  challengeScore,
} from "./challenge-score";
export type { ClassAveragedResult, ClassFlag, ClassFlagKind } from "./class-result";
export {
  type ConfusionMatrix,
  confusionMatrix,
  type SensitivitySpecificity,
  type SensitivitySpecificityOptions,
  sensitivitySpecificity,
} from "./confusion-matrix";
export {
  type CurveOptions,
  type PrecisionRecallCurve,
  precisionRecallCurve,
  precisionRecallCurves,
  type RocCurve,
  rocCurve,
  rocCurves,
} from "./curves";
export type { FlatMatrix, MatrixInput, NumericArray } from "./matrix";
export {
  MetricOptionError,
  MetricShapeError,
  MetricsError,
  MetricValueError,
  ResultsTableError,
} from "./metrics-error";
export { type MultiLabelF1Options, type MultiLabelF1Result, multiLabelF1 } from "./multilabel-f1";
export {
  type RankingMetrics,
  type RankingMetricsOptions,
  rankingMetrics,
} from "./ranking-metrics";
export { meanRocAuc, rocAuc } from "./roc-auc";
