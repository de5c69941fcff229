import { existsSync } from "node:fs";
import { join } from "node:path";
import { createLoader, fewShotFileName, getTask, type MedfmTask } from "@medfm/data";
import { type ChallengeResult, type ChallengeScore, challengeScore } from "@medfm/metrics";
import {
  type AdaptationMethod,
  adamw,
  adaptClassifier,
  type BackendName,
  evaluateModel,
  linearHead,
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
  /** Backbone preset built when there are no weights (default `densenet-tiny`). */
  backbone?: string;
  /** Pretrained weights: torchvision/timm `.safetensors`, a saved classifier folder, or a hub repo. */
  weights?: string;
  /** Evaluate every experiment on this list (e.g. `test_WithLabel.txt`) instead of its val file. */
  testAnn?: string;
  imageSize: number;
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
  rows: FewShotRow[];
  /** Per shot and metric: mean and sample standard deviation over experiments. */
  summary: Array<{ shot: number; metric: string; mean: number; std: number }>;
  score: ChallengeScore;
}

/** Prepares the synthetic dataset and its few-shot files; returns where they lie. */
async function syntheticFewShot(
  options: RunFewShotOptions,
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
  let { dataRoot, anns, testAnn } = options;
  if (!dataRoot) ({ dataRoot, anns, testAnn } = await syntheticFewShot(options, task, print));
  if (!anns)
    throw new Error(
      "--anns (the folder of few-shot annotation files) is required with --data-root",
    );
  await selectBackend(options.backend ? { backend: options.backend } : {});
  const preprocessing = { imageSize: options.imageSize };
  const rows: FewShotRow[] = [];
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
      const classifier = await buildClassifier({
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
        replaceSavedHead: true,
        seed: options.seed,
      });
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
        imageSize: options.imageSize,
        batchSize: options.batchSize,
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
  return { rows, summary, score };
}
