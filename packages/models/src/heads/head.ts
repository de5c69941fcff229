import type { Random, TaskKind } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";

/** Options of a head's forward pass. */
export interface HeadForwardOptions {
  /** Applies dropout when true. */
  training: boolean;
}

/** Which head implementation a saved model used. */
export type HeadType = "linear" | "mlp" | "cosine-prototype";

/** What a saved model records about its head, enough to rebuild it. */
export interface HeadMetadata {
  /** Head implementation. */
  type: HeadType;
  /** `multi-label` (sigmoid scores) or `multi-class` (softmax scores). */
  task: TaskKind;
  /** Number of outputs. */
  numClasses: number;
  /** Length of the feature vector the head reads. */
  inFeatures: number;
  /** Class names in output order, when known. */
  classes?: string[];
  /** Type-specific settings (dropout, hidden width, scale...). */
  options: Record<string, number | boolean>;
}

/** Options of {@link Head.build}. */
export interface HeadBuildOptions {
  /**
   * Prefix of the head's state-dict keys: the backbone spec's `headPrefix` (`classifier.` for
   * torchvision CNNs, `head.` for timm ViTs). Default `classifier.`.
   */
  keyPrefix?: string;
}

/** The head key prefix when none is given (torchvision's `classifier.`). */
export const DEFAULT_HEAD_KEY_PREFIX = "classifier.";

/**
 * A classification head on pooled backbone features. Heads are swappable on one backbone: a
 * classifier builds the head for its backbone's feature width and can replace it later.
 * Variable keys start with the prefix given to {@link Head.build} (the backbone spec's
 * `headPrefix`, e.g. `classifier.`).
 */
export interface Head {
  /** Head implementation. */
  readonly type: HeadType;
  /** How logits become scores: sigmoid per class or softmax over classes. */
  readonly task: TaskKind;
  /** Number of outputs. */
  readonly numClasses: number;
  /** Class names, when given. */
  readonly classes: readonly string[] | undefined;
  /** Feature width once built, `undefined` before. */
  readonly inFeatures: number | undefined;
  /**
   * Creates the variables for `inFeatures`-wide features, keyed under `options.keyPrefix`; a
   * second call with another width throws.
   */
  build(inFeatures: number, options?: HeadBuildOptions): void;
  /** Logits `[batch, numClasses]` from features `[batch, inFeatures]`. */
  forward(features: tf.Tensor2D, options: HeadForwardOptions): tf.Tensor2D;
  /** Every variable under its state-dict key (`<keyPrefix>…`, e.g. `classifier.weight`). */
  namedVariables(): Map<string, tf.Variable>;
  /** The variables an optimizer should update. */
  namedTrainableVariables(): Map<string, tf.Variable>;
  /** What a saved model records to rebuild this head. */
  metadata(): HeadMetadata;
  /**
   * The seeded generators the training forward pass draws from (dropout masks), by name.
   * Checkpoints save and restore their states, so a resumed training draws what an
   * uninterrupted one would. Omit when the head draws nothing.
   */
  randomStreams?(): Map<string, Random>;
  /** Releases the variables. */
  dispose(): void;
}

/** Options every head factory accepts. */
export interface HeadOptions {
  /** Number of outputs. */
  numClasses: number;
  /** `multi-label` (sigmoid scores) or `multi-class` (softmax scores). */
  kind: TaskKind;
  /** Class names in output order; their count must equal `numClasses`. */
  classes?: readonly string[];
  /** Seed of the initialisation and dropout masks (default 0). */
  seed?: number;
}

/** Scores from logits for a task: sigmoid (multi-label) or softmax (multi-class). */
export function scoresFromLogits(logits: tf.Tensor2D, task: TaskKind): tf.Tensor2D {
  return task === "multi-label" ? tf.sigmoid(logits) : tf.softmax(logits);
}

/** Validates the options every head shares; throws naming the head and the bad value. */
export function checkHeadOptions(head: string, options: HeadOptions): void {
  if (!Number.isInteger(options.numClasses) || options.numClasses <= 0) {
    throw new RangeError(
      `${head}: numClasses must be a positive integer, got ${options.numClasses}`,
    );
  }
  if (options.kind !== "multi-label" && options.kind !== "multi-class") {
    throw new RangeError(
      `${head}: kind must be "multi-label" or "multi-class", got ${options.kind}`,
    );
  }
  if (options.classes !== undefined && options.classes.length !== options.numClasses) {
    throw new RangeError(
      `${head}: ${options.classes.length} class names for numClasses ${options.numClasses}`,
    );
  }
}

/** Validates a dropout rate in [0, 1). */
export function checkDropout(head: string, rate: number): void {
  if (!(rate >= 0 && rate < 1))
    throw new RangeError(`${head}: dropout must be in [0, 1), got ${rate}`);
}

/**
 * Whether a head is already built for `inFeatures` (building again is then a no-op); throws,
 * naming the head, when it was built for a different feature width.
 */
export function alreadyBuilt(
  head: string,
  builtFor: number | undefined,
  inFeatures: number,
): boolean {
  if (builtFor === undefined) return false;
  if (builtFor !== inFeatures) {
    throw new RangeError(`${head}: built for ${builtFor} features, cannot attach to ${inFeatures}`);
  }
  return true;
}
