import type { GridJobConfig } from "./job-config";

/** The BullMQ job name of every grid job (the id tells jobs apart). */
export const gridJobName = "medfm-grid-job";

/** The MLflow tag holding a grid job's id on the run that computed it. */
export const gridJobIdTag = "grid_job_id";

/** What a grid job carries in its BullMQ `data`. */
export interface GridJobData {
  config: GridJobConfig;
}

/** A finished job's result, stored as its BullMQ return value. */
export interface GridJobResult {
  jobId: string;
  config: GridJobConfig;
  /** Metric values by name (fractions), like `{ AUC: 0.71, accuracy: 0.6 }`. */
  metrics: Record<string, number>;
  /** The MLflow run holding the result, when the worker tracks to MLflow. */
  runId?: string;
  /** True when the result was found in MLflow and not computed again. */
  reused: boolean;
  /** Seconds the computation took (0 when reused). */
  seconds: number;
}

/** What a {@link GridJobExecutor} learns about the job it runs. */
export interface GridJobContext {
  jobId: string;
  /** Reports progress to the BullMQ job, as a fraction from 0 to 1. */
  progress(fraction: number): Promise<void>;
  /** A line for the worker's log. */
  log(line: string): void;
}

/** What an executor computed for one job. */
export interface GridJobOutcome {
  metrics: Record<string, number>;
  runId?: string;
}

/** Computes one job: the code of `medfm fewshot` in the CLI, a synthetic one in tests. */
export type GridJobExecutor = (
  config: GridJobConfig,
  context: GridJobContext,
) => Promise<GridJobOutcome>;

/** Finds a result already computed for a job (in MLflow), so a worker does not compute it again. */
export type GridResultFinder = (
  jobId: string,
  config: GridJobConfig,
) => Promise<GridJobOutcome | undefined>;
