import { readFile } from "node:fs/promises";
import { GridPlanError } from "./grid-error";
import { type GridJobConfig, gridTasks } from "./job-config";
import { jobIdOf } from "./job-id";

/** Options of {@link planGrid}: the lists to cross, and settings every job shares. */
export interface PlanGridOptions {
  tasks: readonly string[];
  shots: readonly number[];
  experiments: readonly number[];
  methods: readonly string[];
  seeds: readonly number[];
  /** Further swept settings, each a list of values (like `{ lr: [0.001, 0.01] }`). */
  sets?: Readonly<Record<string, readonly (string | number)[]>>;
  dataRoot?: string;
  anns?: string;
  testAnn?: string;
  weights?: string;
  imageSize: number;
  batchSize: number;
  epochs: number;
}

/** One job of a {@link GridPlan}. */
export interface GridPlanJob {
  /** {@link jobIdOf} its configuration. */
  id: string;
  config: GridJobConfig;
}

/** What `medfm grid plan` writes and `medfm grid submit` reads. */
export interface GridPlan {
  /** Format version of the plan file. */
  planVersion: 1;
  jobs: GridPlanJob[];
}

/** `--set` keys that sweep a job field instead of a setting, and the field each sweeps. */
export const gridFieldSettings = Object.freeze({
  epochs: "epochs",
  "batch-size": "batchSize",
  "image-size": "imageSize",
} as const);

/** `--set` keys refused because a `medfm grid plan` flag sweeps them. */
const flagKeys: Readonly<Record<string, string>> = {
  shot: "--shots",
  shots: "--shots",
  exp: "--exps",
  exps: "--exps",
  experiment: "--exps",
  method: "--method",
  seed: "--seeds",
  seeds: "--seeds",
  task: "--task",
};

/** Splits `sets` into swept job fields (epochs, batch size, image size) and other settings. */
function splitFieldSettings(options: PlanGridOptions): {
  fields: Record<(typeof gridFieldSettings)[keyof typeof gridFieldSettings], readonly number[]>;
  sets: Record<string, readonly (string | number)[]>;
} {
  const fields = {
    epochs: [options.epochs] as readonly number[],
    batchSize: [options.batchSize] as readonly number[],
    imageSize: [options.imageSize] as readonly number[],
  };
  const sets: Record<string, readonly (string | number)[]> = {};
  for (const [key, values] of Object.entries(options.sets ?? {})) {
    if (flagKeys[key]) throw new GridPlanError(`--set ${key}: sweep it with ${flagKeys[key]}`);
    const field = gridFieldSettings[key as keyof typeof gridFieldSettings];
    if (!field) {
      sets[key] = values;
      continue;
    }
    for (const value of values)
      if (typeof value !== "number" || !Number.isInteger(value) || value < 1)
        throw new GridPlanError(
          `--set ${key}: expected positive integers, got ${JSON.stringify(value)}`,
        );
    if (values.length === 0) throw new GridPlanError(`--set ${key}: no values`);
    fields[field] = [...new Set(values as number[])];
  }
  return { fields, sets };
}

/** Every combination of the swept settings, in key order, then value order. */
function settingCombinations(
  sets: Readonly<Record<string, readonly (string | number)[]>>,
): Record<string, string | number>[] {
  let combinations: Record<string, string | number>[] = [{}];
  for (const key of Object.keys(sets).sort()) {
    const values = sets[key];
    if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(key))
      throw new GridPlanError(`--set ${key}: a setting name is letters, digits, _ . and -`);
    if (values.length === 0) throw new GridPlanError(`--set ${key}: no values`);
    combinations = combinations.flatMap((combination) =>
      values.map((value) => ({ ...combination, [key]: value })),
    );
  }
  return combinations;
}

/**
 * Expands a grid into jobs: tasks × shots × experiments × methods × seeds × every `sets`
 * combination, each with the id of its full configuration. `sets` keys `epochs`, `batch-size`
 * and `image-size` sweep those job fields ({@link gridFieldSettings}); a key a flag sweeps
 * (`shots`, `seed`, ...) is refused. Duplicate combinations (a value listed twice) appear once.
 */
export function planGrid(options: PlanGridOptions): GridPlan {
  for (const task of options.tasks) {
    if (!gridTasks.includes(task as never))
      throw new GridPlanError(`--task ${task}: expected one of ${gridTasks.join(", ")}`);
  }
  const lists = {
    "--task": options.tasks,
    "--shots": options.shots,
    "--exps": options.experiments,
    "--method": options.methods,
    "--seeds": options.seeds,
  };
  for (const [flag, list] of Object.entries(lists)) {
    if (list.length === 0) throw new GridPlanError(`${flag}: no values`);
  }
  const { fields, sets } = splitFieldSettings(options);
  const fieldCombinations = fields.epochs.flatMap((epochs) =>
    fields.batchSize.flatMap((batchSize) =>
      fields.imageSize.map((imageSize) => ({ epochs, batchSize, imageSize })),
    ),
  );
  const jobs = new Map<string, GridPlanJob>();
  for (const task of options.tasks)
    for (const shot of options.shots)
      for (const experiment of options.experiments)
        for (const method of options.methods)
          for (const seed of options.seeds)
            for (const field of fieldCombinations)
              for (const settings of settingCombinations(sets)) {
                const config: GridJobConfig = {
                  version: 1,
                  task: task as GridJobConfig["task"],
                  shot,
                  experiment,
                  method,
                  seed,
                  ...(options.dataRoot ? { dataRoot: options.dataRoot } : {}),
                  ...(options.anns ? { anns: options.anns } : {}),
                  ...(options.testAnn ? { testAnn: options.testAnn } : {}),
                  ...(options.weights ? { weights: options.weights } : {}),
                  imageSize: field.imageSize,
                  batchSize: field.batchSize,
                  epochs: field.epochs,
                  settings,
                };
                const id = jobIdOf(config);
                if (!jobs.has(id)) jobs.set(id, { id, config });
              }
  return { planVersion: 1, jobs: [...jobs.values()] };
}

/**
 * Parses a plan file's text. Every job's id must be the hash of its configuration (else
 * resubmitting an edited plan would not be idempotent); the error names the file and job.
 * The configurations themselves are checked by the worker that runs them.
 */
export function parsePlan(text: string, file = "plan"): GridPlan {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new GridPlanError(`${file}: not JSON (${(error as Error).message})`);
  }
  const plan = parsed as Partial<GridPlan>;
  if (plan?.planVersion !== 1 || !Array.isArray(plan.jobs))
    throw new GridPlanError(
      `${file}: expected a grid plan ({ "planVersion": 1, "jobs": [...] }) as medfm grid plan writes`,
    );
  plan.jobs.forEach((job, index) => {
    if (typeof job?.config !== "object" || job.config === null)
      throw new GridPlanError(`${file}: jobs[${index}] has no config`);
    const expected = jobIdOf(job.config);
    if (job.id !== expected)
      throw new GridPlanError(
        `${file}: jobs[${index}] has id ${JSON.stringify(job.id)} but its configuration hashes to ${expected}; re-run medfm grid plan instead of editing ids`,
      );
  });
  return plan as GridPlan;
}

/** Reads and parses a plan file ({@link parsePlan}). */
export async function readPlan(file: string): Promise<GridPlan> {
  return parsePlan(await readFile(file, "utf8"), file);
}
