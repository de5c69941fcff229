export { formatPlanTable } from "./format-plan";
export { GridError, GridJobConfigError, GridPlanError, RedisUrlError } from "./grid-error";
export { type GridJobConfig, gridTasks, validateJobConfig } from "./job-config";
export { canonicalJson, jobIdOf } from "./job-id";
export {
  type GridPlan,
  type GridPlanJob,
  type PlanGridOptions,
  parsePlan,
  planGrid,
  readPlan,
} from "./plan-grid";
