import { join } from "node:path";
import { createLoader, type Sample, type TaskDefinition } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import type { Classifier } from "../classifier";
import { cosinePrototypeHead } from "../heads/cosine-prototype-head";
import { scoresFromLogits } from "../heads/head";
import { linearHead } from "../heads/linear-head";
import { withModelPreprocessing } from "../predict/loader-normalisation";
import type { LossFunction } from "../train/losses";
import { adamw, type Optimizer } from "../train/optimizers";
import { cosineSchedule, type LearningRateSchedule } from "../train/schedules";
import {
  type BatchSource,
  createTrainer,
  type TrainableModel,
  type Trainer,
  type TrainingHistory,
} from "../train/trainer";
import { saveClassifier } from "../weights/save-load";
import { extractFeatures, type FeaturePreprocessing } from "./feature-cache";
import { fitLogisticRegression, type LogisticRegressionModel } from "./logistic-regression";
import { promptTokensOf, withPromptTokens } from "./prompt-tokens";
import {
  promptedClassifier,
  saveVisualPrompt,
  VISUAL_PROMPT_FILE,
  type VisualPrompt,
  visualPrompt,
} from "./visual-prompt";

/**
 * How a pretrained classifier is adapted to a few-shot task:
 * - `linear-probe`: MedFM's "Baseline", a logistic regression per class on (L2-normalised)
 *   cached backbone features, backbone untouched;
 * - `meta-baseline`: a cosine-prototype head whose prototypes are the support features' class
 *   means (Meta-Baseline), no training;
 * - `visual-prompt`: a learnable pixel frame (Bahng et al. 2022) and the head trained with the
 *   backbone frozen;
 * - `vpt`: visual prompt tuning (Jia et al. 2022) for token backbones: learnable prompt tokens
 *   at the first block (VPT-shallow) or at every block (VPT-deep; ViT only), and the head,
 *   trained with the backbone frozen. On a Swin the prompts are MedFM's (prepended to every
 *   window, averaged back, carried through patch merging);
 * - `finetune`: the whole network (or its last blocks) trained.
 */
export type AdaptationMethod =
  | "linear-probe"
  | "meta-baseline"
  | "visual-prompt"
  | "vpt"
  | "finetune";

/** The methods {@link adaptClassifier} accepts, in the order a protocol compares them. */
export const adaptationMethods: readonly AdaptationMethod[] = Object.freeze([
  "linear-probe",
  "meta-baseline",
  "visual-prompt",
  "vpt",
  "finetune",
]);

/** Prompt tokens `vpt` adds when the backbone has none and none are asked for. */
export const DEFAULT_PROMPT_TOKENS = 5;

/** Training settings shared by `visual-prompt`, `vpt` and `finetune`. */
export interface AdaptationTrainingOptions {
  /** Epochs over the support set (default 20, as MedFM's DenseNet recipe). */
  epochs?: number;
  /** Optimizer (default AdamW with weight decay 1e-4). */
  optimizer?: Optimizer;
  /** Learning-rate schedule (default cosine from `learningRate` to 0 over all steps). */
  schedule?: LearningRateSchedule;
  /** Base learning rate of the default schedule (default 1e-3). */
  learningRate?: number;
  /** Loss (default: the task's, as `createTrainer` picks it). */
  loss?: LossFunction;
  /**
   * Batches to train on. Default: a loader over the support samples with train augmentation
   * (RandomResizedCrop + flip), shuffled with `seed`.
   */
  train?: BatchSource;
  /** Batches evaluated after each epoch with the task's metrics. */
  validation?: BatchSource;
  /** Called with the trainer before training, to attach progress or tracking to its events. */
  onTrainer?: (trainer: Trainer) => void;
  /** Stops training between batches. */
  signal?: AbortSignal;
}

/** Options of {@link adaptClassifier}. */
export interface AdaptClassifierOptions extends AdaptationTrainingOptions {
  /** Which adaptation to run. */
  method: AdaptationMethod;
  /** The pretrained classifier; adapted in place (its head may be replaced). */
  classifier: Classifier;
  /** The few-shot task: classes and kind. */
  task: TaskDefinition;
  /** Labelled support images and the folder their names are relative to. */
  support: { dataRoot: string; samples: readonly Sample[] };
  /** Image size and normalisation, shared by feature extraction and training. */
  preprocessing: FeaturePreprocessing;
  /** Images per forward pass or training step (default 8). */
  batchSize?: number;
  /** Feature cache folder for the feature-based methods, or `false` (default `.medfm/cache/features`). */
  cacheDir?: string | false;
  /** `linear-probe`: inverse regularisation strength, as scikit-learn's `C` (default 1). */
  c?: number;
  /** `linear-probe`: L2-normalise features first (default true, MedFM's Baseline). */
  normalizeFeatures?: boolean;
  /** `meta-baseline`: initial cosine scale (default 10). */
  scale?: number;
  /** `visual-prompt`: frame width in pixels (default: an eighth of the smaller side, at least 1). */
  padding?: number;
  /**
   * `vpt`: prompt tokens per layer (default: the backbone's own when it has prompts, else
   * {@link DEFAULT_PROMPT_TOKENS}). A backbone without them (or with other ones) gets them
   * through `withPromptTokens`, which consumes the classifier: use `result.classifier`.
   */
  promptTokens?: number;
  /**
   * `vpt`: VPT-deep, prompts at every block (default: the backbone's own, else false). ViT only:
   * a Swin refuses it.
   */
  deepPrompts?: boolean;
  /** `finetune`: train only the last `n` dense blocks (default: all of the backbone). */
  trainableBlocks?: number;
  /** Seed of head initialisation, prompt and shuffling (default 0). */
  seed?: number;
}

/** A model adapted by {@link adaptClassifier}, scored the same way whatever the method. */
export interface AdaptedModel extends TrainableModel {
  /** Eval-mode scores (sigmoid or softmax) `[batch, classes]` from normalised NHWC images. */
  predictScores(images: tf.Tensor4D): tf.Tensor2D;
  /** Releases what the adaptation created besides the classifier (prompt, regression tensors). */
  dispose(): void;
}

/** What {@link adaptClassifier} produced. */
export interface AdaptationResult {
  /** The method that ran. */
  method: AdaptationMethod;
  /** The adapted model: logits through `forward`, scores through `predictScores`. */
  model: AdaptedModel;
  /**
   * The classifier, adapted in place, when it alone represents the adapted model and can be
   * saved with `saveClassifier`: after `meta-baseline` and `finetune`, after `visual-prompt`
   * together with {@link prompt}, after `vpt` (the prompted classifier, which replaces the
   * input one when prompt tokens were added) and after `linear-probe` (a linear head,
   * normalising its input when the features were normalised).
   */
  classifier?: Classifier;
  /** The trained prompt (`visual-prompt`). */
  prompt?: VisualPrompt;
  /** The fitted regressions (`linear-probe`). */
  logisticRegression?: LogisticRegressionModel;
  /** Per-epoch losses and evaluations (`visual-prompt`, `finetune`). */
  history?: TrainingHistory;
  /** Support features served by the cache and computed (`linear-probe`, `meta-baseline`). */
  featureCache?: { hits: number; misses: number };
  /** Wall-clock seconds of the adaptation. */
  seconds: number;
}

function labelMatrix(samples: readonly Sample[], classes: number): Float32Array {
  const labels = new Float32Array(samples.length * classes);
  samples.forEach((sample, row) => {
    if (sample.labels.length !== classes) {
      throw new RangeError(
        `adaptClassifier: support sample ${sample.name}${sample.line ? ` (line ${sample.line})` : ""} has ${sample.labels.length} labels, the task has ${classes} classes`,
      );
    }
    labels.set(sample.labels, row * classes);
  });
  return labels;
}

function classifierModel(classifier: Classifier): AdaptedModel {
  return {
    forward: (images, options) => classifier.forward(images, options),
    trainableVariables: () => classifier.trainableVariables(),
    predictScores: (images) => classifier.predictScores(images),
    dispose: () => {},
  };
}

function ensureTaskHead(classifier: Classifier, task: TaskDefinition, seed: number): void {
  const head = classifier.head;
  if (head.numClasses === task.classes.length && head.task === task.kind) return;
  classifier
    .replaceHead(
      linearHead({ numClasses: task.classes.length, kind: task.kind, classes: task.classes, seed }),
    )
    .dispose();
}

/**
 * Adapts a pretrained classifier to a few-shot task with one of MedFM's methods (see
 * {@link AdaptationMethod}), so a protocol runner can compare them on equal terms: every result
 * exposes `model.predictScores`. Feature-based methods read support features through the disk
 * cache; training methods reuse `createTrainer` on a model exposing `forward` and
 * `trainableVariables`.
 */
export async function adaptClassifier(options: AdaptClassifierOptions): Promise<AdaptationResult> {
  const started = performance.now();
  const { task, support, preprocessing, method } = options;
  let { classifier } = options;
  const seed = options.seed ?? 0;
  const batchSize = options.batchSize ?? 8;
  const classes = task.classes.length;
  if (support.samples.length === 0) throw new RangeError("adaptClassifier: no support samples");
  const labels = labelMatrix(support.samples, classes);
  const seconds = () => (performance.now() - started) / 1000;

  if (method === "linear-probe" || method === "meta-baseline") {
    const extracted = await extractFeatures({
      classifier,
      dataRoot: support.dataRoot,
      names: support.samples.map((sample) => sample.name),
      preprocessing,
      batchSize,
      cacheDir: options.cacheDir,
    });
    const featureCache = { hits: extracted.hits, misses: extracted.misses };
    const { features } = extracted;
    if (method === "meta-baseline") {
      const head = cosinePrototypeHead({
        numClasses: classes,
        kind: task.kind,
        classes: task.classes,
        scale: options.scale,
        seed,
      });
      classifier.replaceHead(head).dispose();
      tf.tidy(() =>
        head.setPrototypes(
          tf.tensor2d(features.data, [features.rows, features.columns]),
          tf.tensor2d(labels, [features.rows, classes]),
        ),
      );
      return {
        method,
        model: classifierModel(classifier),
        classifier,
        featureCache,
        seconds: seconds(),
      };
    }
    const normalize = options.normalizeFeatures ?? true;
    const regression = fitLogisticRegression(features, labels, {
      c: options.c,
      normalize,
      classes: task.classes,
    });
    const weight = Float32Array.from(regression.weights);
    const bias = Float32Array.from(regression.bias);
    // The fitted regressions become a linear head (normalising its input when the features
    // were normalised), so the adapted classifier is an ordinary, savable one.
    const head = linearHead({
      numClasses: classes,
      kind: task.kind,
      classes: task.classes,
      seed,
      normalizeFeatures: normalize,
    });
    classifier.replaceHead(head).dispose();
    tf.tidy(() => {
      const variables = head.namedVariables();
      variables.get("classifier.weight")?.assign(tf.tensor2d(weight, [features.columns, classes]));
      variables.get("classifier.bias")?.assign(tf.tensor1d(bias));
    });
    return {
      method,
      model: {
        forward: (images, forwardOptions) => classifier.forward(images, forwardOptions),
        // The regressions are fitted in closed form, not by gradient steps.
        trainableVariables: () => [],
        // One binary regression per class: sigmoid scores, as scikit-learn's predict_proba.
        predictScores: (images) => tf.tidy(() => tf.sigmoid(classifier.predict(images))),
        dispose: () => {},
      },
      classifier,
      logisticRegression: regression,
      featureCache,
      seconds: seconds(),
    };
  }

  ensureTaskHead(classifier, task, seed);
  let model: AdaptedModel;
  let prompt: VisualPrompt | undefined;
  if (method === "visual-prompt") {
    classifier.freezeBackbone();
    prompt = visualPrompt({
      imageSize: preprocessing.imageSize,
      padding:
        options.padding ??
        Math.max(
          1,
          Math.floor(
            (typeof preprocessing.imageSize === "number"
              ? preprocessing.imageSize
              : Math.min(...preprocessing.imageSize)) / 8,
          ),
        ),
      channels: preprocessing.channels ?? 3,
      seed,
    });
    const prompted = promptedClassifier(classifier, prompt);
    const promptToRelease = prompt;
    model = { ...prompted, dispose: () => promptToRelease.dispose() };
  } else if (method === "vpt") {
    const current = promptTokensOf(classifier);
    const wanted = {
      tokens: options.promptTokens ?? (current.tokens > 0 ? current.tokens : DEFAULT_PROMPT_TOKENS),
      deep: options.deepPrompts ?? (current.tokens > 0 ? current.deep : false),
    };
    if (wanted.tokens !== current.tokens || wanted.deep !== current.deep) {
      classifier = withPromptTokens(classifier, { ...wanted, seed });
    }
    // The prompts belong to no stage: freezing every stage leaves prompts and head trainable.
    classifier.freezeBackbone();
    model = classifierModel(classifier);
  } else if (method === "finetune") {
    if (options.trainableBlocks !== undefined)
      classifier.unfreezeLastBlocks(options.trainableBlocks);
    else classifier.unfreezeBackbone();
    model = classifierModel(classifier);
  } else {
    throw new RangeError(
      `adaptClassifier: unknown method ${JSON.stringify(method)} (expected ${adaptationMethods.join(", ")})`,
    );
  }
  const own = withModelPreprocessing(preprocessing, classifier.preprocessing);
  const train =
    options.train ??
    createLoader({
      samples: support.samples,
      dataRoot: support.dataRoot,
      imageSize: preprocessing.imageSize,
      batchSize,
      shuffle: true,
      augment: true,
      seed,
      channels: preprocessing.channels,
      // The classifier's own normalisation unless the caller names one.
      mean: own.mean,
      std: own.std,
    });
  const epochs = options.epochs ?? 20;
  const stepsPerEpoch = train.length ?? Math.ceil(support.samples.length / batchSize);
  const trainer = createTrainer({
    model,
    task,
    optimizer: options.optimizer ?? adamw({ weightDecay: 1e-4 }),
    schedule:
      options.schedule ??
      cosineSchedule({
        baseLr: options.learningRate ?? 1e-3,
        totalSteps: Math.max(1, epochs * stepsPerEpoch),
      }),
    loss: options.loss,
  });
  options.onTrainer?.(trainer);
  const history = await trainer.fit({
    train,
    validation: options.validation,
    epochs,
    signal: options.signal,
  });
  return {
    method,
    model: {
      forward: (images, forwardOptions) => model.forward(images, forwardOptions),
      trainableVariables: () => model.trainableVariables(),
      predictScores: (images) =>
        tf.tidy(() => scoresFromLogits(model.forward(images, { training: false }), task.kind)),
      dispose: () => model.dispose(),
    },
    classifier,
    ...(prompt ? { prompt } : {}),
    history,
    seconds: seconds(),
  };
}

/**
 * Saves an adapted model to `directory` so `loadClassifier` and `medfm predict` read it back:
 * the classifier (`model.json` + `weights.bin`, with `metadata` and the method recorded) and,
 * after `visual-prompt`, the prompt as `prompt.safetensors`. Returns the path of `model.json`.
 */
export async function saveAdaptation(
  result: AdaptationResult,
  directory: string,
  metadata: Record<string, unknown> = {},
): Promise<string> {
  if (!result.classifier) {
    throw new Error(`saveAdaptation: the ${result.method} result holds no classifier to save`);
  }
  const path = await saveClassifier(result.classifier, directory, {
    metadata: { ...metadata, adaptation: result.method },
  });
  if (result.prompt) await saveVisualPrompt(result.prompt, join(directory, VISUAL_PROMPT_FILE));
  return path;
}
