import type { Random } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import type { Backbone } from "./backbones/backbone";
import type { BackbonePreprocessing } from "./backbones/backbone-spec";
import { defaultPreprocessingOf, headPrefixOf } from "./backbones/spec-of";
import { type Head, scoresFromLogits } from "./heads/head";
import { StateDictError } from "./weights/state-dict-error";

/** Options of {@link Classifier.forward}. */
export interface ClassifierForwardOptions {
  /** Batch statistics and dropout (true) or running statistics and no dropout (false). */
  training: boolean;
  /**
   * In training mode, fold batch statistics into the batch-norm running estimates (default
   * true). Updates are applied during the call with `Variable.assign`, which is safe inside
   * `tf.variableGrads` and `optimizer.minimize` (running estimates are not trainable).
   */
  updateStatistics?: boolean;
}

/** Options of {@link Classifier.loadStateDict}. */
export interface LoadStateDictOptions {
  /**
   * Require every key of the model in the map and no other key (default true). When false,
   * missing keys keep their current values and unexpected keys are reported, not loaded.
   */
  strict?: boolean;
  /** Where the map came from, named in errors (e.g. a file path). */
  source?: string;
}

/** What {@link Classifier.loadStateDict} did. */
export interface LoadStateDictReport {
  /** Keys that were loaded. */
  loaded: string[];
  /** Model keys absent from the map (only when not strict). */
  missing: string[];
  /** Map keys the model does not have (only when not strict). */
  unexpected: string[];
}

/** A backbone with a swappable head, freezable by stage, with torchvision-named state. */
export interface Classifier {
  /** The feature extractor. */
  readonly backbone: Backbone;
  /** The current head. */
  readonly head: Head;
  /**
   * The image preprocessing the weights expect (mean, std, input size …): what the model was
   * created or saved with. Predict, Grad-CAM and few-shot normalise images with it.
   */
  readonly preprocessing: BackbonePreprocessing;
  /** Prefix of the head's state-dict keys (the backbone spec's `headPrefix`, e.g. `classifier.`). */
  readonly headPrefix: string;
  /** Logits `[batch, numClasses]` from NHWC images. */
  forward(images: tf.Tensor4D, options: ClassifierForwardOptions): tf.Tensor2D;
  /** Eval-mode logits (running statistics, no dropout). */
  predict(images: tf.Tensor4D): tf.Tensor2D;
  /** Eval-mode scores: sigmoid (multi-label) or softmax (multi-class) of the logits. */
  predictScores(images: tf.Tensor4D): tf.Tensor2D;
  /** Pooled backbone features `[batch, numFeatures]` (eval mode unless told otherwise). */
  features(images: tf.Tensor4D, options?: ClassifierForwardOptions): tf.Tensor2D;
  /** The backbone's final feature map `[batch, h, w, numFeatures]` (eval mode unless told). */
  featureMap(images: tf.Tensor4D, options?: ClassifierForwardOptions): tf.Tensor4D;
  /** Logits from a feature map as {@link featureMap} returns it (the backbone's pooling, head). */
  forwardFromFeatureMap(featureMap: tf.Tensor4D, options: ClassifierForwardOptions): tf.Tensor2D;
  /** Variables an optimizer should update: the head's and the unfrozen backbone's. */
  trainableVariables(): tf.Variable[];
  /** {@link trainableVariables} by state-dict key, in a stable order (for optimizer state). */
  namedTrainableVariables(): Map<string, tf.Variable>;
  /** Builds `head` for the backbone's features and swaps it in; returns the old head (not disposed). */
  replaceHead(head: Head): Head;
  /** Freezes the whole backbone: no gradients, batch norms on running statistics. */
  freezeBackbone(): void;
  /**
   * Freezes the backbone except its last `n` stages of `backbone.stageNames` (DenseNet: dense
   * blocks with their transitions and the final norm; a ViT: transformer blocks).
   */
  unfreezeLastBlocks(n: number): void;
  /**
   * Trains the stage named `stageName` (one of `backbone.stageNames`, e.g. `denseblock3`) and
   * every later stage, and freezes the rest; an unknown name throws listing the stage names.
   */
  unfreezeFromStage(stageName: string): void;
  /** Makes the whole backbone trainable. */
  unfreezeBackbone(): void;
  /**
   * Every tensor under its torchvision key, channels-last (conv `[kh, kw, in, out]`, linear
   * `[in, out]`), including running statistics and `num_batches_tracked` (int32 scalars).
   * The tensors are copies owned by the caller.
   */
  stateDict(): Map<string, tf.Tensor>;
  /** Assigns tensors by torchvision key (channels-last layout); see {@link LoadStateDictOptions}. */
  loadStateDict(state: Map<string, tf.Tensor>, options?: LoadStateDictOptions): LoadStateDictReport;
  /**
   * The seeded generators training draws from (dropout masks of the backbone and the head), by
   * name (`backbone.dropout`, `head.dropout`). Checkpoints store their states so that a resumed
   * training is exact; see {@link Backbone.randomStreams}.
   */
  randomStreams(): Map<string, Random>;
  /** Releases the backbone and the head. */
  dispose(): void;
}

/** Options of {@link createClassifier}. */
export interface CreateClassifierOptions {
  /** The feature extractor, e.g. `createBackbone("densenet121")`. */
  backbone: Backbone;
  /** The head, e.g. `linearHead({ numClasses: 19, kind: "multi-label" })`; built here. */
  head: Head;
  /**
   * The preprocessing the weights expect (default: the backbone's preset, else its spec's, else
   * ImageNet's); saved in `model.json`.
   */
  preprocessing?: BackbonePreprocessing;
}

function copyPreprocessing(preprocessing: BackbonePreprocessing): BackbonePreprocessing {
  return Object.freeze({
    ...preprocessing,
    mean: Object.freeze([...preprocessing.mean]) as unknown as BackbonePreprocessing["mean"],
    std: Object.freeze([...preprocessing.std]) as unknown as BackbonePreprocessing["std"],
  });
}

class BackboneClassifier implements Classifier {
  readonly backbone: Backbone;
  head: Head;
  readonly preprocessing: BackbonePreprocessing;
  readonly headPrefix: string;
  private disposed = false;

  constructor(options: CreateClassifierOptions) {
    this.backbone = options.backbone;
    this.headPrefix = headPrefixOf(this.backbone);
    this.preprocessing = copyPreprocessing(
      options.preprocessing ?? defaultPreprocessingOf(this.backbone),
    );
    options.head.build(this.backbone.numFeatures, { keyPrefix: this.headPrefix });
    this.head = options.head;
  }

  forward(images: tf.Tensor4D, options: ClassifierForwardOptions): tf.Tensor2D {
    this.checkAlive();
    return tf.tidy(() => this.head.forward(this.backbone.forward(images, options), options));
  }

  predict(images: tf.Tensor4D): tf.Tensor2D {
    return this.forward(images, { training: false });
  }

  predictScores(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => scoresFromLogits(this.predict(images), this.head.task));
  }

  features(
    images: tf.Tensor4D,
    options: ClassifierForwardOptions = { training: false },
  ): tf.Tensor2D {
    this.checkAlive();
    return this.backbone.forward(images, options);
  }

  featureMap(
    images: tf.Tensor4D,
    options: ClassifierForwardOptions = { training: false },
  ): tf.Tensor4D {
    this.checkAlive();
    const { backbone } = this;
    if (backbone.featureMap === undefined || backbone.poolFeatureMap === undefined) {
      throw new Error(`${backbone.name}: this backbone provides no spatial feature map`);
    }
    return backbone.featureMap(images, options);
  }

  forwardFromFeatureMap(featureMap: tf.Tensor4D, options: ClassifierForwardOptions): tf.Tensor2D {
    this.checkAlive();
    const { backbone } = this;
    if (backbone.poolFeatureMap === undefined) {
      throw new Error(`${backbone.name}: this backbone provides no spatial feature map`);
    }
    const pool = backbone.poolFeatureMap.bind(backbone);
    return tf.tidy(() => this.head.forward(pool(featureMap), options));
  }

  trainableVariables(): tf.Variable[] {
    return [...this.namedTrainableVariables().values()];
  }

  namedTrainableVariables(): Map<string, tf.Variable> {
    this.checkAlive();
    return new Map([
      ...this.backbone.namedTrainableVariables(),
      ...this.head.namedTrainableVariables(),
    ]);
  }

  replaceHead(head: Head): Head {
    this.checkAlive();
    head.build(this.backbone.numFeatures, { keyPrefix: this.headPrefix });
    const previous = this.head;
    this.head = head;
    return previous;
  }

  freezeBackbone(): void {
    this.backbone.freezeStages(0);
  }

  unfreezeLastBlocks(n: number): void {
    this.backbone.freezeStages(n);
  }

  unfreezeFromStage(stageName: string): void {
    const { stageNames } = this.backbone;
    const index = stageNames.indexOf(stageName);
    if (index < 0) {
      throw new RangeError(
        `${this.backbone.name}: no stage ${JSON.stringify(stageName)}; stages: ${stageNames.join(", ")}`,
      );
    }
    this.backbone.freezeStages(stageNames.length - index);
  }

  unfreezeBackbone(): void {
    const { backbone } = this;
    if (backbone.unfreezeAll) backbone.unfreezeAll();
    else backbone.freezeStages(backbone.stageNames.length);
  }

  private nonTensorState(): Map<string, number> {
    return this.backbone.nonTensorState?.() ?? new Map();
  }

  private namedVariables(): Map<string, tf.Variable> {
    return new Map([...this.backbone.namedVariables(), ...this.head.namedVariables()]);
  }

  stateDict(): Map<string, tf.Tensor> {
    this.checkAlive();
    const result = new Map<string, tf.Tensor>();
    const variables = this.namedVariables();
    // Each integer state entry follows the last tensor of its module (torch lists a batch
    // norm's num_batches_tracked right after its running_var); orphans go last.
    const after = new Map<string, string[]>();
    const orphans: string[] = [];
    const keys = [...variables.keys()];
    for (const stateKey of this.nonTensorState().keys()) {
      const module = stateKey.slice(0, stateKey.lastIndexOf(".") + 1);
      let anchor: string | undefined;
      for (const key of keys) if (module !== "" && key.startsWith(module)) anchor = key;
      if (anchor === undefined) orphans.push(stateKey);
      else after.set(anchor, [...(after.get(anchor) ?? []), stateKey]);
    }
    const state = this.nonTensorState();
    for (const [key, variable] of variables) {
      result.set(key, tf.clone(variable));
      for (const stateKey of after.get(key) ?? []) {
        result.set(stateKey, tf.scalar(state.get(stateKey) ?? 0, "int32"));
      }
    }
    for (const stateKey of orphans) {
      result.set(stateKey, tf.scalar(state.get(stateKey) ?? 0, "int32"));
    }
    return result;
  }

  loadStateDict(
    state: Map<string, tf.Tensor>,
    options: LoadStateDictOptions = {},
  ): LoadStateDictReport {
    this.checkAlive();
    const strict = options.strict ?? true;
    const source = options.source ?? "state dict";
    const variables = this.namedVariables();
    const counters = this.nonTensorState();
    const missing = [...variables.keys(), ...counters.keys()].filter((key) => !state.has(key));
    const unexpected = [...state.keys()].filter((key) => !variables.has(key) && !counters.has(key));
    const mismatched: string[] = [];
    for (const [key, variable] of variables) {
      const tensor = state.get(key);
      if (tensor === undefined) continue;
      if (
        tensor.shape.length !== variable.shape.length ||
        tensor.shape.some((size, index) => size !== variable.shape[index])
      ) {
        mismatched.push(
          `${key}: expected [${variable.shape.join(", ")}], got [${tensor.shape.join(", ")}]`,
        );
      }
    }
    if (mismatched.length > 0 || (strict && (missing.length > 0 || unexpected.length > 0))) {
      throw new StateDictError({
        source,
        missing: strict ? missing : [],
        unexpected: strict ? unexpected : [],
        mismatched,
      });
    }
    const loaded: string[] = [];
    tf.tidy(() => {
      for (const [key, variable] of variables) {
        const tensor = state.get(key);
        if (tensor === undefined) continue;
        variable.assign(tensor.dtype === variable.dtype ? tensor : tf.cast(tensor, variable.dtype));
        loaded.push(key);
      }
    });
    const newCounters = new Map<string, number>();
    for (const key of counters.keys()) {
      const tensor = state.get(key);
      if (tensor === undefined) continue;
      newCounters.set(key, Number(tensor.dataSync()[0]));
      loaded.push(key);
    }
    if (newCounters.size > 0) this.backbone.setNonTensorState?.(newCounters);
    return { loaded, missing, unexpected };
  }

  randomStreams(): Map<string, Random> {
    this.checkAlive();
    const streams = new Map<string, Random>();
    for (const [name, random] of this.backbone.randomStreams?.() ?? [])
      streams.set(`backbone.${name}`, random);
    for (const [name, random] of this.head.randomStreams?.() ?? [])
      streams.set(`head.${name}`, random);
    return streams;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.backbone.dispose();
    this.head.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error("classifier: used after dispose()");
  }

  /** The head and preprocessing on `backbone`; this classifier's backbone is released. */
  moveTo(backbone: Backbone): Classifier {
    this.checkAlive();
    const moved = new BackboneClassifier({
      backbone,
      head: this.head,
      preprocessing: this.preprocessing,
    });
    this.disposed = true;
    this.backbone.dispose();
    return moved;
  }
}

/**
 * Moves a classifier's head and preprocessing onto another backbone (of the same feature
 * width) and returns the new classifier. The old one is consumed: its backbone is released and
 * any later use throws, while `dispose()` on it does nothing (the head now belongs to the new
 * one). For classifiers made by {@link createClassifier}.
 */
export function moveClassifierToBackbone(classifier: Classifier, backbone: Backbone): Classifier {
  if (!(classifier instanceof BackboneClassifier)) {
    throw new TypeError(
      "moveClassifierToBackbone: the classifier was not made by createClassifier",
    );
  }
  if (backbone.numFeatures !== classifier.backbone.numFeatures) {
    throw new RangeError(
      `moveClassifierToBackbone: the new backbone has ${backbone.numFeatures} features, the head takes ${classifier.backbone.numFeatures}`,
    );
  }
  return classifier.moveTo(backbone);
}

/** Puts a head on a backbone. The head is built for the backbone's feature width. */
export function createClassifier(options: CreateClassifierOptions): Classifier {
  return new BackboneClassifier(options);
}
