import { initRun, mlflow, searchMlflowRuns } from "@medfm/track";
import { type GridJobExecutor, type GridResultFinder, gridJobIdTag } from "./grid-job";

/** The MLflow experiment grid runs go to unless told otherwise. */
export const defaultGridExperiment = "medfm-grid";

/** The prefix of a grid run's result metrics in MLflow (`result/AUC`). */
const resultPrefix = "result/";

/** Options of {@link trackedExecutor} and {@link mlflowResultFinder}. */
export interface GridTrackingOptions {
  /** The MLflow experiment (default `medfm-grid`). */
  experiment?: string;
  /** The tracking server; default `MEDFM_TRACK_URI`. */
  uri?: string;
  env?: Record<string, string | undefined>;
  /** Where the runs' local journals go (default `MEDFM_TRACK_ROOT`, else `./.medfm/runs`). */
  root?: string;
  /**
   * `sync` (default) sends each run to MLflow as it goes; `offline` only journals it locally,
   * for `medfm track sync` later (a worker without a reachable server, or a test).
   */
  mode?: "sync" | "offline";
}

/**
 * Wraps an executor so each job is an MLflow run (through @medfm/track, server from
 * `MEDFM_TRACK_URI`) tagged with its job id, with its configuration as params and its result
 * as `result/<metric>`. The run ends FINISHED only after the result is logged, so a FINISHED
 * run with the tag is a complete result; a worker killed mid-job leaves a RUNNING one, ignored.
 */
export function trackedExecutor(
  execute: GridJobExecutor,
  options: GridTrackingOptions = {},
): GridJobExecutor {
  return async (config, context) => {
    const run = initRun({
      project: options.experiment ?? defaultGridExperiment,
      name: `${config.task}-${config.shot}shot-exp${config.experiment}-${config.method}-${context.jobId}`,
      tags: [config.task, config.method],
      backend: options.uri ? mlflow({ uri: options.uri }) : "mlflow",
      mode: options.mode ?? "sync",
      ...(options.root ? { root: options.root } : {}),
    });
    run[gridJobIdTag] = context.jobId;
    run.params = {
      task: config.task,
      shot: config.shot,
      experiment: config.experiment,
      method: config.method,
      seed: config.seed,
      imageSize: config.imageSize,
      batchSize: config.batchSize,
      epochs: config.epochs,
      ...config.settings,
    };
    try {
      const outcome = await execute(config, context);
      for (const [name, value] of Object.entries(outcome.metrics))
        run[`${resultPrefix}${name}`].append(value);
      await run.stop({ status: "finished" });
      return { ...outcome, runId: run.id };
    } catch (error) {
      await run.stop({ status: "failed" }).catch(() => {});
      throw error;
    }
  };
}

/**
 * Finds a FINISHED MLflow run tagged with the job id and returns its `result/*` metrics, so a
 * job that already ran (a retry after a lost worker that had finished, or a grid submitted to
 * a fresh queue) is not computed again.
 */
export function mlflowResultFinder(options: GridTrackingOptions = {}): GridResultFinder {
  return async (jobId) => {
    const runs = await searchMlflowRuns({
      uri: options.uri,
      env: options.env,
      experiment: options.experiment ?? defaultGridExperiment,
      tags: { [gridJobIdTag]: jobId },
      status: "FINISHED",
      maxResults: 1,
    });
    const run = runs[0];
    if (!run) return undefined;
    const metrics: Record<string, number> = Object.fromEntries(
      Object.entries(run.metrics)
        .filter(([key]) => key.startsWith(resultPrefix))
        .map(([key, value]) => [key.slice(resultPrefix.length), value]),
    );
    if (Object.keys(metrics).length === 0) return undefined;
    return { metrics, runId: run.tags.medfm_run_id ?? run.runId };
  };
}
