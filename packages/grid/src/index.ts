export { formatPlanTable } from "./format-plan";
export { GridError, GridJobConfigError, GridPlanError, RedisUrlError } from "./grid-error";
export {
  type GridJobContext,
  type GridJobData,
  type GridJobExecutor,
  type GridJobOutcome,
  type GridJobResult,
  type GridResultFinder,
  gridJobIdTag,
  gridJobName,
} from "./grid-job";
export {
  formatGridReport,
  type GridReport,
  type GridReportCell,
  type GridReportScore,
  type GridReportTable,
  gridReport,
} from "./grid-report";
export {
  formatGridStatus,
  type GridFailure,
  type GridJobState,
  type GridStatus,
  type GridStatusGroup,
  type GridStatusOptions,
  gridJobStates,
  gridStatus,
  tallyGridJobs,
} from "./grid-status";
export { type GridWorkerOptions, startGridWorker } from "./grid-worker";
export { type GridJobConfig, gridTasks, validateJobConfig } from "./job-config";
export { canonicalJson, jobIdOf } from "./job-id";
export {
  defaultGridExperiment,
  type GridTrackingOptions,
  mlflowResultFinder,
  trackedExecutor,
} from "./mlflow-results";
export {
  type GridPlan,
  type GridPlanJob,
  gridFieldSettings,
  type PlanGridOptions,
  parsePlan,
  planGrid,
  readPlan,
} from "./plan-grid";
export {
  defaultRedisUrl,
  type RedisConnectionSource,
  redactRedisUrl,
  redactSecrets,
  redisConnectionOptions,
  resolveRedisUrl,
} from "./redis-connection";
export { type SubmitPlanOptions, type SubmitPlanResult, submitPlan } from "./submit-plan";
