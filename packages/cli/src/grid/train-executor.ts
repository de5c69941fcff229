import { join } from "node:path";
import { fewShotFileName, getTask } from "@medfm/data";
import { type GridJobConfig, GridJobConfigError, type GridJobExecutor } from "@medfm/grid";
import type { BackendName } from "@medfm/models";
import {
  prepareSyntheticDataset,
  writeSyntheticFewShotFiles,
} from "../synthetic/prepare-synthetic-dataset";
import { DEFAULT_BACKBONE } from "../train/build-classifier";
import {
  backboneNames,
  headNames,
  type RunTrainingOptions,
  runTraining,
} from "../train/run-training";

/** The grid job method that runs `medfm train` on an experiment's K-shot file. */
export const trainMethod = "train";

/** What a `train` job's `--set` keys may be, named as the `medfm train` flags. */
const trainSettingValues: Readonly<Record<string, "positive number" | readonly string[]>> = {
  lr: "positive number",
  optimizer: ["sgd", "adamw"],
  backbone: backboneNames,
  head: headNames,
};

/** The `--set` keys a `train` grid job takes: the `medfm train` flags of the same names. */
export const trainSettings: readonly string[] = Object.freeze(Object.keys(trainSettingValues));

/** What {@link trainJobOptions} returns: `runTraining` options the job's settings set. */
export type TrainJobOptions = Partial<
  Pick<RunTrainingOptions, "lr" | "optimizer" | "backbone" | "head">
>;

/**
 * Checks a `train` job's swept settings and returns the `runTraining` options they set;
 * throws {@link GridJobConfigError} naming the setting at fault and what is allowed.
 */
export function trainJobOptions(settings: GridJobConfig["settings"]): TrainJobOptions {
  const options: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(settings)) {
    const allowed = trainSettingValues[key];
    if (!allowed)
      throw new GridJobConfigError(
        `settings.${key}`,
        `medfm train has no setting ${JSON.stringify(key)}; the settings are ${trainSettings.join(", ")} (and the job fields epochs, batch-size, image-size)`,
      );
    const valid =
      allowed === "positive number"
        ? typeof value === "number" && Number.isFinite(value) && value > 0
        : allowed.includes(String(value));
    if (!valid)
      throw new GridJobConfigError(
        `settings.${key}`,
        `expected ${allowed === "positive number" ? "a positive number" : `one of ${allowed.join(", ")}`}, got ${JSON.stringify(value)}`,
      );
    options[key] = value;
  }
  return options as TrainJobOptions;
}

/**
 * The executor of `medfm grid worker` for the `train` method: `medfm train` ({@link
 * runTraining}, the same code) on the job's K-shot training file, validated each epoch on the
 * experiment's val file (or `testAnn`; without `dataRoot`, the synthetic dataset's val list);
 * the last epoch's validation metrics are the job's result. Checkpoints go to
 * `.medfm/grid/<job id>`, one folder per job, so concurrent jobs never share one.
 */
export function trainExecutor(options: { backend?: BackendName } = {}): GridJobExecutor {
  return async (config, context) => {
    if (config.method !== trainMethod)
      throw new GridJobConfigError(
        "method",
        `expected train, got ${JSON.stringify(config.method)}`,
      );
    const settings = trainJobOptions(config.settings);
    const task = getTask(config.task);
    let { dataRoot, anns, testAnn } = config;
    if (!dataRoot) {
      const dataset = await prepareSyntheticDataset({
        task,
        imageSize: config.imageSize,
        seed: config.seed,
      });
      anns = await writeSyntheticFewShotFiles(dataset, {
        task,
        shots: [config.shot],
        experiments: [config.experiment],
        seed: config.seed,
      });
      dataRoot = dataset.dataRoot;
      testAnn ??= dataset.valAnnotation;
    }
    if (!anns)
      throw new GridJobConfigError(
        "anns",
        "a train job with dataRoot needs anns (the K-shot files)",
      );
    await context.progress(0.05);
    const result = await runTraining({
      task: config.task,
      dataRoot,
      trainAnn: join(anns, fewShotFileName(task.name, config.shot, "train", config.experiment)),
      valAnn:
        testAnn ?? join(anns, fewShotFileName(task.name, config.shot, "val", config.experiment)),
      backbone: DEFAULT_BACKBONE,
      head: "linear",
      weights: config.weights,
      imageSize: config.imageSize,
      epochs: config.epochs,
      batchSize: config.batchSize,
      lr: 0.003,
      optimizer: "adamw",
      ...settings,
      track: "file",
      seed: config.seed,
      output: join(".medfm", "grid", context.jobId),
      resume: false,
      backend: options.backend,
      print: context.log,
      progress: {
        startEpoch: () => {},
        batch: () => {},
        endEpoch: () => {},
        log: context.log,
      },
      gradcamCount: 0,
    });
    const last = result.history.epochs.at(-1)?.evaluation;
    if (!last) throw new Error(`job ${context.jobId}: training ended without an evaluation`);
    return { metrics: { ...last.metrics } };
  };
}
