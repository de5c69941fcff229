import { existsSync } from "node:fs";
import { join } from "node:path";
import { createLoader, fewShotFileName, getTask, type MedfmTask, type Sample } from "@medfm/data";
import { type ChallengeResult, type ChallengeScore, challengeScore } from "@medfm/metrics";
import {
  type AdaptationMethod,
  adamw,
  adaptClassifier,
  type BackendName,
  type Classifier,
  evaluateModel,
  linearHead,
  loaderNormalisation,
  loaderPreprocessing,
  selectBackend,
} from "@medfm/models";
import {
  prepareSyntheticDataset,
  writeSyntheticFewShotFiles,
} from "../synthetic/prepare-synthetic-dataset";
import { buildClassifier, DEFAULT_BACKBONE } from "../train/build-classifier";
import { readLabelledAnnotations } from "../train/read-labelled-annotations";

/** Options of {@link runFewShot}, one per `medfm fewshot` flag. */
export interface RunFewShotOptions {
  task: string;
  /** Folder the annotation names are relative to; without it a synthetic dataset is generated. */
  dataRoot?: string;
  /** Folder holding `{task}_{K}-shot_{train|val}_exp{E}.txt` files. */
  anns?: string;
  shots: number[];
  experiments: number[];
  method: AdaptationMethod;
  /**
   * Backbone preset built when there are no weights (default `densenet-tiny`); with `weights`,
   * the preset they must be (their architecture is checked against it).
   */
  backbone?: string;
  /** Pretrained weights: torchvision/timm `.safetensors`, a saved classifier folder, or a hub repo. */
  weights?: string;
  /** Evaluate every experiment on this list (e.g. `test_WithLabel.txt`) instead of its val file. */
  testAnn?: string;
  /**
   * Input size in pixels (default: the pretrained weights' own input size when `weights` are
   * given, else {@link DEFAULT_FEWSHOT_IMAGE_SIZE}).
   */
  imageSize?: number;
  batchSize: number;
  epochs: number;
  /** `visual-prompt`, `finetune`: base learning rate of the cosine schedule (default 1e-3). */
  learningRate?: number;
  /** `visual-prompt`, `finetune`: AdamW's decoupled weight decay (default 1e-4). */
  weightDecay?: number;
  /** `linear-probe`: inverse regularisation strength, as scikit-learn's `C` (default 1). */
  probeC?: number;
  /** `vpt`: prompt tokens per layer (default 5). */
  prompts?: number;
  /** `vpt`: VPT-deep, prompts at every block. */
  deep?: boolean;
  seed: number;
  backend?: BackendName;
  print?: (line: string) => void;
}

/** Input size of a run without weights: small, so the protocol runs on any CPU. */
export const DEFAULT_FEWSHOT_IMAGE_SIZE = 64;

/** One experiment's result. */
export interface FewShotRow extends ChallengeResult {
  /** Metric values by name (fractions). */
  metrics: Record<string, number>;
  /** Support images and evaluated images. */
  support: number;
  evaluated: number;
  seconds: number;
}

/** What {@link runFewShot} returns. */
export interface FewShotResults {
  /**
   * What every image went through: the input size and the normalisation (mean and std of
   * pixels scaled to [0, 1]) of the weights, for support and evaluation images alike.
   */
  preprocessing: { imageSize: number; mean: readonly number[]; std: readonly number[] };
  rows: FewShotRow[];
  /** Per shot and metric: mean and sample standard deviation over experiments. */
  summary: Array<{ shot: number; metric: string; mean: number; std: number }>;
  score: ChallengeScore;
}

/** Prepares the synthetic dataset and its few-shot files; returns where they lie. */
async function syntheticFewShot(
  options: RunFewShotOptions & { imageSize: number },
  task: MedfmTask,
  print: (line: string) => void,
) {
  const dataset = await prepareSyntheticDataset({
    task,
    imageSize: options.imageSize,
    seed: options.seed,
  });
  const anns = await writeSyntheticFewShotFiles(dataset, {
    task,
    shots: options.shots,
    experiments: options.experiments,
    seed: options.seed,
  });
  print(
    `No --data-root: synthetic ${task.name} dataset in ${dataset.dataRoot}, few-shot files in ${anns}`,
  );
  return { dataRoot: dataset.dataRoot, anns, testAnn: options.testAnn ?? dataset.valAnnotation };
}

/**
 * Throws when no metric of `task` is defined on `samples`: a multi-class list holding one class
 * (AUC needs two), a multi-label list where every class is all positive or all negative.
 */
function checkEvaluable(file: string, samples: readonly Sample[], task: MedfmTask): void {
  const positives = task.classes.map((_, c) => samples.filter((s) => s.labels[c] === 1).length);
  const present = task.classes.filter((_, c) => positives[c] > 0);
  const mixed = positives.filter((count) => count > 0 && count < samples.length);
  if (task.kind === "multi-class" ? present.length >= 2 : mixed.length > 0) return;
  const held =
    task.kind === "multi-class"
      ? `every image is ${present[0] ?? "unlabelled"}`
      : "every class is all positive or all negative";
  throw new Error(
    `${file}: ${held} (${samples.length} images), so AUC and mAP are undefined; evaluate on a list holding both (draw it with medfm data fewshot --val rest, or name one with --test-ann)`,
  );
}

function meanAndStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance =
    values.length > 1 ? values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, std: Math.sqrt(variance) };
}

/**
 * Runs the MedFM few-shot protocol: for every shot count and experiment, adapts a (pretrained)
 * classifier on the shot file with the chosen method, evaluates it on the experiment's val file
 * (or a test list), and returns the table, mean ± std per shot and the challenge score.
 */
export async function runFewShot(options: RunFewShotOptions): Promise<FewShotResults> {
  const print = options.print ?? ((line: string) => console.log(line));
  const task = getTask(options.task);
  if (options.dataRoot && !options.anns)
    throw new Error(
      "--anns (the folder of few-shot annotation files) is required with --data-root",
    );
  await selectBackend(options.backend ? { backend: options.backend } : {});
  const build = () =>
    buildClassifier({
      // No weights: a small random backbone, so the protocol runs anywhere (its numbers mean
      // little: few-shot methods assume a pretrained backbone).
      backbone: options.backbone ?? DEFAULT_BACKBONE,
      head: linearHead({
        numClasses: task.classes.length,
        kind: task.kind,
        classes: task.classes,
        seed: options.seed,
      }),
      weights: options.weights,
      checkBackbone: options.backbone !== undefined,
      replaceSavedHead: true,
      seed: options.seed,
    });
  // The first experiment's classifier, built before the loop to read what its weights expect.
  let first: Classifier | undefined = await build();
  const weightsPreprocessing = first.preprocessing;
  const imageSize =
    options.imageSize ??
    (options.weights ? weightsPreprocessing.inputSize : DEFAULT_FEWSHOT_IMAGE_SIZE);
  // The normalisation the weights expect, for support and evaluation alike.
  const normalisation = loaderNormalisation(weightsPreprocessing);
  if (options.weights) {
    const { mean, std, inputSize } = weightsPreprocessing;
    print(
      `Weights ${options.weights}: ${first.backbone.name}, trained at ${inputSize} px, mean ${mean.join("/")}, std ${std.join("/")}; adapting at ${imageSize} px`,
    );
  }
  const preprocessing = { imageSize, ...normalisation };
  const rows: FewShotRow[] = [];
  try {
    const { dataRoot, anns, testAnn } =
      options.dataRoot && options.anns
        ? { dataRoot: options.dataRoot, anns: options.anns, testAnn: options.testAnn }
        : await syntheticFewShot({ ...options, imageSize }, task, print);
    for (const shot of options.shots) {
      for (const experiment of options.experiments) {
        const supportFile = join(anns, fewShotFileName(task.name, shot, "train", experiment));
        const evalFile = testAnn ?? join(anns, fewShotFileName(task.name, shot, "val", experiment));
        for (const file of [supportFile, evalFile]) {
          if (!existsSync(file))
            throw new Error(`${file}: no such annotation file (${shot}-shot, exp${experiment})`);
        }
        // The official files repeat lines; a repeated support image adds nothing but weight.
        const support = await readLabelledAnnotations("--anns", supportFile, {
          task,
          dataRoot,
          duplicates: "drop",
        });
        const evaluation = await readLabelledAnnotations(
          testAnn ? "--test-ann" : "--anns",
          evalFile,
          {
            task,
            dataRoot,
            duplicates: "drop",
          },
        );
        checkEvaluable(evalFile, evaluation.samples, task);
        const classifier = first ?? (await build());
        first = undefined;
        const started = performance.now();
        const result = await adaptClassifier({
          method: options.method,
          classifier,
          task,
          support: { dataRoot, samples: support.samples },
          preprocessing,
          batchSize: options.batchSize,
          epochs: options.epochs,
          ...(options.learningRate !== undefined ? { learningRate: options.learningRate } : {}),
          ...(options.weightDecay !== undefined
            ? { optimizer: adamw({ weightDecay: options.weightDecay }) }
            : {}),
          ...(options.probeC !== undefined ? { c: options.probeC } : {}),
          ...(options.prompts !== undefined ? { promptTokens: options.prompts } : {}),
          ...(options.deep ? { deepPrompts: true } : {}),
          seed: options.seed + experiment,
          cacheDir: join(".medfm", "cache", "features"),
        });
        const loader = createLoader({
          samples: evaluation.samples,
          dataRoot,
          imageSize,
          batchSize: options.batchSize,
          // The weights' normalisation, interpolation and centre crop, as adaptation used them.
          ...loaderPreprocessing(weightsPreprocessing, imageSize),
        });
        // Scores are probabilities here; AP, AUC and accuracy depend only on their order.
        const { metrics, count } = await evaluateModel(task, loader, (images) =>
          result.model.predictScores(images),
        );
        result.model.dispose();
        // vpt consumes the classifier into a prompted one; disposing the consumed one is a no-op.
        result.classifier?.dispose();
        classifier.dispose();
        const seconds = (performance.now() - started) / 1000;
        rows.push({
          task: task.name as ChallengeResult["task"],
          shot,
          experiment,
          ...metrics,
          metrics,
          support: support.samples.length,
          evaluated: count,
          seconds,
        });
        const formatted = Object.entries(metrics)
          .map(([name, value]) => `${name} ${(value * 100).toFixed(2)}`)
          .join("  ");
        print(
          `${task.name} ${shot}-shot exp${experiment}  ${options.method}  support ${support.samples.length}  ${formatted}  ${seconds.toFixed(1)}s`,
        );
      }
    }
  } finally {
    // Built but unused when an experiment failed before adapting it.
    first?.dispose();
  }
  const metricNames = Object.keys(rows[0]?.metrics ?? {});
  const summary = options.shots.flatMap((shot) =>
    metricNames.map((metric) => ({
      shot,
      metric,
      ...meanAndStd(rows.filter((row) => row.shot === shot).map((row) => row.metrics[metric])),
    })),
  );
  const score = challengeScore(rows);
  print("");
  print(`| shots | ${metricNames.join(" | ")} |`);
  print(`|---|${metricNames.map(() => "---").join("|")}|`);
  for (const shot of options.shots) {
    const cells = metricNames.map((metric) => {
      const entry = summary.find((item) => item.shot === shot && item.metric === metric)!;
      return `${(entry.mean * 100).toFixed(2)} ± ${(entry.std * 100).toFixed(2)}`;
    });
    print(`| ${shot} | ${cells.join(" | ")} |`);
  }
  print(`Challenge score (${task.name}, ${score.count} values): ${(score.score * 100).toFixed(2)}`);
  const { mean, std } = weightsPreprocessing;
  return { preprocessing: { imageSize, mean: [...mean], std: [...std] }, rows, summary, score };
}
