import { ResultsTableError } from "./metrics-error";

/** The three MedFMC tasks. */
export type ChallengeTask = "chest" | "colon" | "endo";

/** The metrics the MedFM challenge averages for each task. */
export const challengeMetrics: Readonly<
  Record<ChallengeTask, readonly ("mAP" | "AUC" | "accuracy")[]>
> = {
  chest: ["mAP", "AUC"],
  endo: ["mAP", "AUC"],
  colon: ["accuracy", "AUC"],
};

/** One line of a results table: one task, shot count and experiment. */
export interface ChallengeResult {
  /** The task evaluated. */
  readonly task: ChallengeTask;
  /** The few-shot setting, like 1, 5 or 10. */
  readonly shot: number;
  /** The experiment (split) number, like 1 to 5. */
  readonly experiment: number;
  /** Mean average precision (chest, endo). */
  readonly mAP?: number;
  /** Macro ROC AUC (all tasks). */
  readonly AUC?: number;
  /** Top-1 accuracy (colon). */
  readonly accuracy?: number;
}

/** The challenge score and the means it is made of. */
export interface ChallengeScore {
  /** The mean over tasks × shots × experiments × each task's two metrics. */
  readonly score: number;
  /** Each task's metric means over its shots and experiments. */
  readonly perTask: Partial<Record<ChallengeTask, Record<string, number>>>;
  /** The shot counts found in the table, ascending. */
  readonly shots: number[];
  /** The experiment numbers found in the table, ascending. */
  readonly experiments: number[];
  /** How many numbers were averaged. */
  readonly count: number;
}

/**
 * The MedFM challenge score from a results table: the mean over tasks × shots × experiments of
 * chest mAP and AUC, endo mAP and AUC, colon accuracy and AUC. Every task present must have a
 * row for every shot and experiment found in the table, each with its two metrics; missing,
 * duplicate or non-finite entries throw a {@link ResultsTableError} listing them. All values must
 * share one unit (fractions or percentages); the score keeps it.
 */
export function challengeScore(results: readonly ChallengeResult[]): ChallengeScore {
  if (results.length === 0) throw new ResultsTableError(undefined, "the table is empty");
  const seen = new Map<string, number>();
  const tasks = new Set<ChallengeTask>();
  const shots = new Set<number>();
  const experiments = new Set<number>();
  const sums: Partial<Record<ChallengeTask, Record<string, number>>> = {};
  const counts: Partial<Record<ChallengeTask, number>> = {};
  let total = 0;
  let count = 0;
  results.forEach((result, row) => {
    const metrics = challengeMetrics[result.task];
    if (metrics === undefined) {
      throw new ResultsTableError(row, `task "${String(result.task)}" is not chest, colon or endo`);
    }
    for (const field of ["shot", "experiment"] as const) {
      if (!Number.isInteger(result[field])) {
        throw new ResultsTableError(row, `${field} ${String(result[field])} is not an integer`);
      }
    }
    const key = `${result.task} ${result.shot}-shot exp${result.experiment}`;
    const previous = seen.get(key);
    if (previous !== undefined) {
      throw new ResultsTableError(row, `${key} repeats row ${previous}`);
    }
    seen.set(key, row);
    tasks.add(result.task);
    shots.add(result.shot);
    experiments.add(result.experiment);
    sums[result.task] ??= {};
    const taskSums = sums[result.task]!;
    counts[result.task] = (counts[result.task] ?? 0) + 1;
    for (const metric of metrics) {
      const value = result[metric];
      if (typeof value !== "number" || !Number.isFinite(value)) {
        throw new ResultsTableError(
          row,
          `${key} has ${metric} ${String(value)}; expected a finite number`,
        );
      }
      taskSums[metric] = (taskSums[metric] ?? 0) + value;
      total += value;
      count++;
    }
  });
  const sortedShots = [...shots].sort((left, right) => left - right);
  const sortedExperiments = [...experiments].sort((left, right) => left - right);
  const missing: string[] = [];
  for (const task of tasks) {
    for (const shot of sortedShots) {
      for (const experiment of sortedExperiments) {
        const key = `${task} ${shot}-shot exp${experiment}`;
        if (!seen.has(key)) missing.push(key);
      }
    }
  }
  if (missing.length > 0) {
    throw new ResultsTableError(
      undefined,
      `missing ${missing.length} entries: ${missing.join(", ")}`,
    );
  }
  const perTask: Partial<Record<ChallengeTask, Record<string, number>>> = {};
  for (const task of tasks) {
    perTask[task] = Object.fromEntries(
      Object.entries(sums[task]!).map(([metric, sum]) => [metric, sum / counts[task]!]),
    );
  }
  return {
    score: total / count,
    perTask,
    shots: sortedShots,
    experiments: sortedExperiments,
    count,
  };
}
