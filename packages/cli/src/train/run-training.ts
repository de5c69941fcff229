import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type AnnotationSet, createLoader, getTask, type MedfmTask } from "@medfm/data";
import {
  adamw,
  type BackendName,
  type Classifier,
  cosinePrototypeHead,
  cosineSchedule,
  createTrainer,
  type Head,
  linearHead,
  loaderPreprocessing,
  mlpHead,
  selectBackend,
  sgd,
  type TaskEvaluation,
  type TrainingHistory,
} from "@medfm/models";
import { initRun, mlflow } from "@medfm/track";
import { writeGradCam } from "../explain/write-grad-cam";
import { createProgress, type ProgressReporter } from "../progress";
import { predictionsField } from "../report/build-report";
import { prepareSyntheticDataset } from "../synthetic/prepare-synthetic-dataset";
import { buildClassifier } from "./build-classifier";
import { lockOutputFolder } from "./output-lock";
import { readLabelledAnnotations } from "./read-labelled-annotations";

/** Backbones `medfm train` builds by name: every registered backbone preset. */
export { backboneNames } from "./build-classifier";
/** Heads `medfm train` builds by name. */
export const headNames = ["linear", "cosine", "mlp"] as const;

/** Options of {@link runTraining}, one per `medfm train` flag. */
export interface RunTrainingOptions {
  task: string;
  /** Folder the annotation names are relative to; without it a synthetic dataset is generated. */
  dataRoot?: string;
  trainAnn?: string;
  valAnn?: string;
  testAnn?: string;
  /** Backbone preset (one of `backboneNames`, the registered presets). */
  backbone: string;
  head: (typeof headNames)[number];
  /** `.safetensors` (torchvision/timm; backbone only) or a saved classifier folder. */
  weights?: string;
  imageSize: number;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: "sgd" | "adamw";
  /** `file` (default), `mlflow` (MEDFM_TRACK_URI) or `mlflow://HOST:PORT`. */
  track: string;
  seed: number;
  /** Checkpoints go to `<output>/last` and `<output>/best`. */
  output: string;
  resume: boolean;
  backend?: BackendName;
  /** Where the per-epoch lines go; default stdout. */
  print?: (line: string) => void;
  progress?: ProgressReporter;
  signal?: AbortSignal;
  /** Grad-CAM overlays of the N most and N least confident validation images (default 3; 0: none). */
  gradcamCount?: number;
}

/** What {@link runTraining} returns. */
export interface RunTrainingResult {
  history: TrainingHistory;
  test?: TaskEvaluation;
  runPath: string | undefined;
  checkpointDir: string;
}

function buildHead(name: RunTrainingOptions["head"], task: MedfmTask, seed: number): Head {
  const options = { numClasses: task.classes.length, kind: task.kind, classes: task.classes, seed };
  if (name === "cosine") return cosinePrototypeHead({ ...options, learnPrototypes: true });
  if (name === "mlp") return mlpHead({ ...options, hiddenFeatures: 256, dropout: 0.1 });
  return linearHead(options);
}

/**
 * Writes Grad-CAM overlays of the most and least confident validation images (by their top
 * class's score) into the run as `gradcam/*` files, for the report's gallery.
 */
async function galleryOfConfidence(
  model: Classifier,
  task: MedfmTask,
  evaluation: TaskEvaluation,
  dataRoot: string,
  options: RunTrainingOptions,
  runPath: string,
  upload: (path: string, file: string) => void,
): Promise<void> {
  const count = options.gradcamCount ?? 3;
  const { names, scores } = evaluation.predictions;
  const ranked = names
    .map((name, row) => {
      const logits = Array.from(scores[row]);
      const probabilities =
        task.kind === "multi-label"
          ? logits.map((value) => 1 / (1 + Math.exp(-value)))
          : logits.map((value) => Math.exp(value - Math.max(...logits)));
      const total = task.kind === "multi-label" ? 1 : probabilities.reduce((a, b) => a + b, 0);
      const classIndex = probabilities.indexOf(Math.max(...probabilities));
      return { name, classIndex, score: probabilities[classIndex] / total };
    })
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name));
  const picks = [
    ...ranked
      .slice(0, count)
      .map((entry, index) => ({ ...entry, label: `most_confident_${index + 1}` })),
    ...ranked
      .slice(Math.max(count, ranked.length - count))
      .reverse()
      .map((entry, index) => ({ ...entry, label: `least_confident_${index + 1}` })),
  ];
  for (const pick of picks) {
    const className = task.classes[pick.classIndex];
    const file = join(
      runPath,
      "gradcam",
      `${pick.label}-${className}-${pick.score.toFixed(3)}.png`,
    );
    await writeGradCam({
      classifier: model,
      image: join(dataRoot, pick.name),
      imageSize: options.imageSize,
      classIndex: pick.classIndex,
      output: file,
    });
    upload(`gradcam/${pick.label}`, file);
  }
}

function formatMetrics(evaluation: TaskEvaluation): string {
  const parts = Object.entries(evaluation.metrics).map(
    ([name, value]) =>
      `${name} ${(value * 100).toFixed(2)}${name === evaluation.mainMetric ? ` (chance ${(evaluation.chance * 100).toFixed(2)})` : ""}`,
  );
  return parts.join("  ");
}

/**
 * Trains a classifier for a MedFM task end to end: data, model, trainer, per-epoch metrics,
 * checkpoints and a tracked run. What `medfm train` runs.
 */
export async function runTraining(options: RunTrainingOptions): Promise<RunTrainingResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  const progress = options.progress ?? createProgress();
  const task = getTask(options.task);
  // The stem divides by 4 and each transition by 2: smaller inputs collapse to nothing.
  const blocks = 4; // every backbone medfm train builds has four dense blocks
  const minimumSize = 2 ** (blocks + 1);
  if (options.imageSize < minimumSize) {
    throw new RangeError(
      `--image-size ${options.imageSize} is too small for ${options.backbone} (${blocks} dense blocks): use at least ${minimumSize}`,
    );
  }
  let { dataRoot, trainAnn, valAnn } = options;
  if (!dataRoot) {
    const dataset = await prepareSyntheticDataset({
      task,
      imageSize: options.imageSize,
      seed: options.seed,
    });
    ({ dataRoot, trainAnnotation: trainAnn, valAnnotation: valAnn } = dataset);
    print(`No --data-root: using a synthetic ${task.name} dataset in ${dataRoot}`);
  }
  if (!trainAnn || !valAnn)
    throw new Error("--train-ann and --val-ann are required with --data-root");
  // Every list is read, and must carry labels, before any model work.
  const train = await readLabelledAnnotations("--train-ann", trainAnn, { task, dataRoot });
  const val = await readLabelledAnnotations("--val-ann", valAnn, { task, dataRoot });
  const testSet = options.testAnn
    ? await readLabelledAnnotations("--test-ann", options.testAnn, { task, dataRoot })
    : undefined;
  // One training per output folder, and one checkpoints can be written to: both checked now,
  // not when the first epoch's checkpoint fails.
  const lock = lockOutputFolder(options.output);
  try {
    return await trainInto(options, {
      print,
      progress,
      task,
      dataRoot,
      trainAnn,
      valAnn,
      train,
      val,
      testSet,
    });
  } finally {
    lock.release();
  }
}

/** What {@link runTraining} has read and checked before it trains. */
interface TrainingInputs {
  print: (line: string) => void;
  progress: ProgressReporter;
  task: MedfmTask;
  dataRoot: string;
  trainAnn: string;
  valAnn: string;
  train: AnnotationSet;
  val: AnnotationSet;
  testSet: AnnotationSet | undefined;
}

/** Builds, trains, evaluates and tracks, with the output folder held. */
async function trainInto(
  options: RunTrainingOptions,
  inputs: TrainingInputs,
): Promise<RunTrainingResult> {
  const { print, progress, task, dataRoot, trainAnn, valAnn, train, val, testSet } = inputs;
  await selectBackend(options.backend ? { backend: options.backend } : {});
  const model = await buildClassifier({
    backbone: options.backbone,
    head: buildHead(options.head, task, options.seed),
    weights: options.weights,
    seed: options.seed,
  });
  const loaderOptions = {
    dataRoot,
    // The normalisation the weights expect (a CLIP tower's is not ImageNet's), and for
    // evaluation their interpolation and centre crop (training augments).
    ...loaderPreprocessing(model.preprocessing, options.imageSize),
    imageSize: options.imageSize,
    batchSize: options.batchSize,
    seed: options.seed,
  };
  const trainLoader = createLoader({
    ...loaderOptions,
    samples: train.samples,
    shuffle: true,
    // Laterality matters on chest X-rays: no flips there.
    augment: {
      randomResizedCrop: { scale: [0.7, 1] },
      horizontalFlip: task.name === "chest" ? 0 : 0.5,
    },
  });
  const valLoader = createLoader({ ...loaderOptions, samples: val.samples });

  // With --weights the weights decide the architecture: record what was built, not the flag.
  const backboneName = options.weights ? model.backbone.name : options.backbone;
  const track = options.track;
  const run = initRun({
    project: `medfm-${task.name}`,
    name: `train-${task.name}`,
    tags: [task.name, backboneName],
    backend:
      track === "file"
        ? "file"
        : track === "mlflow"
          ? "mlflow"
          : mlflow({ uri: track.replace(/^mlflow:/, "http:") }),
  });
  run.params = {
    task: task.name,
    backbone: backboneName,
    head: options.head,
    weights: options.weights ?? "none",
    imageSize: options.imageSize,
    epochs: options.epochs,
    batchSize: options.batchSize,
    lr: options.lr,
    optimizer: options.optimizer,
    seed: options.seed,
    train: trainAnn,
    val: valAnn,
    // Where best/ and last/ go: medfm serve and export-web find the model of a run from it.
    checkpoints: resolve(options.output),
  };
  const optimizer =
    options.optimizer === "sgd"
      ? sgd({ momentum: 0.9, weightDecay: 1e-4 })
      : adamw({ weightDecay: 1e-4 });
  const trainer = createTrainer({
    model,
    task,
    optimizer,
    schedule: cosineSchedule({
      baseLr: options.lr,
      totalSteps: options.epochs * trainLoader.length,
    }),
    checkpointDir: options.output,
    checkpointMetadata: { task: task.name, classes: task.classes, imageSize: options.imageSize },
  });
  let batchInEpoch = 0;
  trainer.on("batchEnd", ({ epoch, batch, loss, step }) => {
    if (batch === 0 || batchInEpoch === 0)
      progress.startEpoch(epoch, options.epochs, trainLoader.length);
    batchInEpoch = batch + 1;
    progress.batch(batchInEpoch, loss);
    run["train/loss"].append(loss, { step });
  });
  trainer.on("epochEnd", ({ epoch, loss, evaluation, seconds }) => {
    progress.endEpoch();
    batchInEpoch = 0;
    run["train/epoch_loss"].append(loss, { step: epoch });
    if (evaluation) {
      for (const [name, value] of Object.entries(evaluation.metrics))
        run[`val/${name}`].append(value, { step: epoch });
    }
    print(
      `epoch ${epoch + 1}/${options.epochs}  loss ${loss.toFixed(4)}  ${evaluation ? formatMetrics(evaluation) : ""}  ${seconds.toFixed(1)}s`,
    );
  });
  let history: TrainingHistory;
  try {
    history = await trainer.fit({
      train: trainLoader,
      validation: valLoader,
      epochs: options.epochs,
      resume: options.resume,
      signal: options.signal,
    });
  } catch (error) {
    progress.endEpoch();
    await run.stop({ status: "failed" });
    model.dispose();
    throw error;
  }
  progress.endEpoch();
  if (history.interrupted) {
    run["train/interrupted_at_step"] = trainer.step;
    print(
      `Interrupted at step ${trainer.step}: checkpoint saved in ${join(options.output, "last")}; continue with --resume`,
    );
  }
  if (history.best) {
    run["val/best_epoch"] = history.best.epoch;
    run[`val/best_${history.best.metric}`] = history.best.value;
    print(
      `Best ${history.best.metric} ${(history.best.value * 100).toFixed(2)} at epoch ${history.best.epoch + 1}; checkpoint in ${join(options.output, "best")}`,
    );
  }
  const lastEvaluation = history.epochs.at(-1)?.evaluation;
  if (lastEvaluation && run.path) {
    // The scores behind the last epoch's metrics, for `medfm report`'s tables and curves.
    const file = join(run.path, "predictions.json");
    const { names, scores, targets } = lastEvaluation.predictions;
    await writeFile(
      file,
      JSON.stringify({
        task: task.name,
        kind: task.kind,
        classes: task.classes,
        names,
        scores: scores.map((row) => Array.from(row)),
        targets: targets.map((row) => Array.from(row)),
      }),
    );
    run[predictionsField].upload(file);
  }
  if (lastEvaluation && run.path && (options.gradcamCount ?? 3) > 0) {
    await galleryOfConfidence(
      model,
      task,
      lastEvaluation,
      dataRoot,
      options,
      run.path,
      (path, file) => run[path].upload(file),
    );
  }
  let test: TaskEvaluation | undefined;
  if (testSet && !history.interrupted) {
    test = await trainer.evaluate(createLoader({ ...loaderOptions, samples: testSet.samples }));
    for (const [name, value] of Object.entries(test.metrics)) run[`test/${name}`] = value;
    print(`test  ${formatMetrics(test)}`);
  }
  // Stopped on request before its end: MLflow's KILLED, not a failure.
  await run.stop({ status: history.interrupted ? "killed" : "finished" });
  model.dispose();
  optimizer.dispose();
  print(`Run ${run.id} stored in ${run.path}`);
  return { history, test, runPath: run.path, checkpointDir: options.output };
}
