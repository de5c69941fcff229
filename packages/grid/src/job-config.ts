import { GridJobConfigError } from "./grid-error";

/** The MedFMC tasks a grid job can run. */
export const gridTasks = ["chest", "colon", "endo"] as const;

/**
 * One job of a grid: everything that decides its result. Its id is a hash of all of it
 * ({@link jobIdOf}), so the same configuration is the same job on every machine.
 */
export interface GridJobConfig {
  /** Version of this shape; a new field that changes results bumps it. */
  readonly version: 1;
  readonly task: (typeof gridTasks)[number];
  /** Few-shot setting K. */
  readonly shot: number;
  /** Experiment (K-shot file) number. */
  readonly experiment: number;
  /** An adaptation method of `medfm fewshot` (`linear-probe`, ...) or `train` (`medfm train`). */
  readonly method: string;
  readonly seed: number;
  /** Folder the annotation names are relative to; absent: a generated synthetic dataset. */
  readonly dataRoot?: string;
  /** Folder with `{task}_{K}-shot_{train|val}_exp{E}.txt` files. */
  readonly anns?: string;
  /** Evaluate on this list instead of the experiment's val file. */
  readonly testAnn?: string;
  /** Pretrained weights (`.safetensors` or a saved classifier folder). */
  readonly weights?: string;
  readonly imageSize: number;
  readonly batchSize: number;
  readonly epochs: number;
  /** Further settings swept with `--set key=v1,v2` (like `lr`), by name. */
  readonly settings: Readonly<Record<string, string | number>>;
}

const integerFields = ["shot", "experiment", "imageSize", "batchSize", "epochs"] as const;

/**
 * Checks a job configuration received from a queue (it may come from a hand-edited plan) and
 * returns it typed; throws {@link GridJobConfigError} naming the first field at fault.
 */
export function validateJobConfig(value: unknown): GridJobConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new GridJobConfigError("(root)", `expected an object, got ${JSON.stringify(value)}`);
  const config = value as Record<string, unknown>;
  if (config.version !== 1)
    throw new GridJobConfigError("version", `expected 1, got ${JSON.stringify(config.version)}`);
  if (!gridTasks.includes(config.task as never))
    throw new GridJobConfigError(
      "task",
      `expected one of ${gridTasks.join(", ")}, got ${JSON.stringify(config.task)}`,
    );
  for (const field of integerFields) {
    const number = config[field];
    if (!Number.isInteger(number) || (number as number) < 1)
      throw new GridJobConfigError(
        field,
        `expected a positive integer, got ${JSON.stringify(number)}`,
      );
  }
  if (!Number.isInteger(config.seed) || (config.seed as number) < 0)
    throw new GridJobConfigError(
      "seed",
      `expected a non-negative integer, got ${JSON.stringify(config.seed)}`,
    );
  if (typeof config.method !== "string" || config.method === "")
    throw new GridJobConfigError("method", `expected a name, got ${JSON.stringify(config.method)}`);
  for (const field of ["dataRoot", "anns", "testAnn", "weights"] as const) {
    if (config[field] !== undefined && typeof config[field] !== "string")
      throw new GridJobConfigError(field, `expected a path, got ${JSON.stringify(config[field])}`);
  }
  const settings = config.settings ?? {};
  if (typeof settings !== "object" || settings === null || Array.isArray(settings))
    throw new GridJobConfigError("settings", `expected an object, got ${JSON.stringify(settings)}`);
  for (const [key, setting] of Object.entries(settings)) {
    if (typeof setting !== "string" && typeof setting !== "number")
      throw new GridJobConfigError(
        `settings.${key}`,
        `expected a string or number, got ${JSON.stringify(setting)}`,
      );
  }
  return {
    ...(config as unknown as GridJobConfig),
    settings: settings as GridJobConfig["settings"],
  };
}
