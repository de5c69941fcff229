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
export type { ClassAveragedResult, ClassFlag, ClassFlagKind } from "./class-result";
export type { FlatMatrix, MatrixInput, NumericArray } from "./matrix";
export {
  MetricOptionError,
  MetricShapeError,
  MetricsError,
  MetricValueError,
} from "./metrics-error";
export { meanRocAuc, rocAuc } from "./roc-auc";
