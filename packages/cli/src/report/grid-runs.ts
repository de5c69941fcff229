import {
  type GridJobConfig,
  type GridJobResult,
  gridJobIdTag,
  validateJobConfig,
} from "@medfm/grid";
import { listRuns, readRun, type StoredRun } from "@medfm/track";

/** The result metrics' prefix in a grid run (`result/AUC`), as the grid worker logs them. */
const resultPrefix = "result/";

/** The job fields a grid run logs as params; every other param is a swept setting. */
const configParams = [
  "task",
  "shot",
  "experiment",
  "method",
  "seed",
  "imageSize",
  "batchSize",
  "epochs",
] as const;

/**
 * The grid job results held by stored runs: each finished run that carries the grid job id
 * (`grid_job_id`, as `medfm grid worker` logs it) and `result/*` metrics gives one result,
 * its configuration rebuilt from its params. A job computed twice (its first worker lost after
 * finishing) counts once. Runs without grid metadata are left out.
 */
export function gridResultsFromRuns(runs: readonly StoredRun[]): GridJobResult[] {
  const results = new Map<string, GridJobResult>();
  for (const run of runs) {
    const jobId = run.values[gridJobIdTag];
    if (typeof jobId !== "string" || run.status !== "finished" || results.has(jobId)) continue;
    const metrics: Record<string, number> = {};
    for (const [path, points] of Object.entries(run.series)) {
      const last = points.at(-1)?.value;
      if (path.startsWith(resultPrefix) && typeof last === "number")
        metrics[path.slice(resultPrefix.length)] = last;
    }
    if (Object.keys(metrics).length === 0) continue;
    const settings: Record<string, string | number> = {};
    for (const [key, value] of Object.entries(run.params))
      if (!(configParams as readonly string[]).includes(key))
        settings[key] = typeof value === "number" ? value : String(value);
    let config: GridJobConfig;
    try {
      config = validateJobConfig({
        version: 1,
        ...Object.fromEntries(configParams.map((key) => [key, run.params[key]])),
        settings,
      });
    } catch (error) {
      console.warn(
        `report: run ${run.path} (grid job ${jobId}) left out: ${(error as Error).message}`,
      );
      continue;
    }
    results.set(jobId, { jobId, config, metrics, runId: run.id, reused: false, seconds: 0 });
  }
  return [...results.values()];
}

/** Reads every run under `root` of `project` (all projects when omitted) that is a grid job. */
export function readGridRuns(root: string, project?: string): StoredRun[] {
  const runs: StoredRun[] = [];
  for (const folder of listRuns(root)) {
    try {
      const run = readRun(folder);
      if (typeof run.values[gridJobIdTag] !== "string") continue;
      if (project === undefined || run.project === project) runs.push(run);
    } catch {
      // A folder that is not a readable run is not part of any grid.
    }
  }
  return runs;
}
