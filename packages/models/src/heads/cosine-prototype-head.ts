import { createRandom, hashSeed } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import {
  createVariable,
  linearUniformWeight,
  uniqueVariableScope,
} from "../backbones/initializers";
import {
  alreadyBuilt,
  checkHeadOptions,
  DEFAULT_HEAD_KEY_PREFIX,
  type Head,
  type HeadBuildOptions,
  type HeadForwardOptions,
  type HeadMetadata,
  type HeadOptions,
} from "./head";

/** Options of {@link cosinePrototypeHead}. */
export interface CosinePrototypeHeadOptions extends HeadOptions {
  /** Initial multiplier of the cosine similarities (Meta-Baseline's temperature, default 10). */
  scale?: number;
  /** Learn the scale with the rest of the model (default true, as in Meta-Baseline). */
  learnScale?: boolean;
  /** Learn the prototypes as weights (a cosine classifier) instead of only setting them (default false). */
  learnPrototypes?: boolean;
}

interface PrototypeVariables {
  prototypes: tf.Variable<tf.Rank.R2>;
  scale: tf.Variable<tf.Rank.R0>;
}

/** A cosine-prototype head; `setPrototypes` fills it from support features. */
export interface CosinePrototypeHead extends Head {
  readonly type: "cosine-prototype";
  /**
   * Sets each class prototype to the L2-normalised mean of the L2-normalised support features
   * labelled with that class (Meta-Baseline). `labels` is `[n, numClasses]` multi-hot or one-hot.
   * Throws naming the classes without any support example.
   */
  setPrototypes(features: tf.Tensor2D, labels: tf.Tensor2D): void;
}

const NORMALISE_EPS = 1e-12;

function l2Normalise(x: tf.Tensor2D): tf.Tensor2D {
  // torch.nn.functional.normalize: x / max(||x||, eps).
  return tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), NORMALISE_EPS));
}

/**
 * Meta-Baseline's classifier (Chen et al. 2021): logits are `scale · cos(feature, prototype)`.
 * Keys: `classifier.prototypes` `[numClasses, inFeatures]`, `classifier.scale` (a scalar).
 */
class CosinePrototypeHeadImpl implements CosinePrototypeHead {
  readonly type = "cosine-prototype" as const;
  readonly task;
  readonly numClasses: number;
  readonly classes: readonly string[] | undefined;
  inFeatures: number | undefined;
  private keyPrefix = DEFAULT_HEAD_KEY_PREFIX;
  private readonly initialScale: number;
  private readonly learnScale: boolean;
  private readonly learnPrototypes: boolean;
  private readonly seed: number;
  private variables: PrototypeVariables | undefined;

  constructor(options: CosinePrototypeHeadOptions) {
    checkHeadOptions("cosinePrototypeHead", options);
    const scale = options.scale ?? 10;
    if (!(scale > 0) || !Number.isFinite(scale)) {
      throw new RangeError(`cosinePrototypeHead: scale must be positive, got ${options.scale}`);
    }
    this.task = options.kind;
    this.numClasses = options.numClasses;
    this.classes = options.classes ? [...options.classes] : undefined;
    this.initialScale = scale;
    this.learnScale = options.learnScale ?? true;
    this.learnPrototypes = options.learnPrototypes ?? false;
    this.seed = options.seed ?? 0;
  }

  build(inFeatures: number, options: HeadBuildOptions = {}): void {
    if (alreadyBuilt("cosinePrototypeHead", this.inFeatures, inFeatures)) return;
    this.keyPrefix = options.keyPrefix ?? DEFAULT_HEAD_KEY_PREFIX;
    const scope = uniqueVariableScope("cosine_prototype_head");
    const random = createRandom(hashSeed(this.seed, "cosine-prototype-head-init"));
    // Random unit prototypes until setPrototypes is called, so the head works as a cosine
    // classifier from the start.
    this.variables = {
      prototypes: createVariable(
        () => l2Normalise(tf.transpose(linearUniformWeight(random, inFeatures, this.numClasses))),
        this.learnPrototypes,
        `${scope}/${this.keyPrefix}prototypes`,
      ),
      scale: createVariable(
        () => tf.scalar(this.initialScale),
        this.learnScale,
        `${scope}/${this.keyPrefix}scale`,
      ),
    };
    this.inFeatures = inFeatures;
  }

  forward(features: tf.Tensor2D, _options: HeadForwardOptions): tf.Tensor2D {
    const { prototypes, scale } = this.built();
    return tf.tidy(() =>
      tf.mul(tf.matMul(l2Normalise(features), l2Normalise(prototypes), false, true), scale),
    );
  }

  setPrototypes(features: tf.Tensor2D, labels: tf.Tensor2D): void {
    const { prototypes } = this.built();
    if (features.rank !== 2 || features.shape[1] !== this.inFeatures) {
      throw new RangeError(
        `cosinePrototypeHead.setPrototypes: features must be [n, ${this.inFeatures}], got [${features.shape.join(", ")}]`,
      );
    }
    if (
      labels.rank !== 2 ||
      labels.shape[0] !== features.shape[0] ||
      labels.shape[1] !== this.numClasses
    ) {
      throw new RangeError(
        `cosinePrototypeHead.setPrototypes: labels must be [${features.shape[0]}, ${this.numClasses}], got [${labels.shape.join(", ")}]`,
      );
    }
    const counts = tf.tidy(() => tf.sum(labels, 0).dataSync());
    const empty: string[] = [];
    counts.forEach((count, index) => {
      if (count <= 0) empty.push(this.classes?.[index] ?? `class ${index}`);
    });
    if (empty.length > 0) {
      throw new RangeError(
        `cosinePrototypeHead.setPrototypes: no support example for ${empty.join(", ")}`,
      );
    }
    tf.tidy(() => {
      const sums = tf.matMul(labels.toFloat(), l2Normalise(features), true, false);
      prototypes.assign(l2Normalise(tf.div(sums, tf.tensor2d(counts, [this.numClasses, 1]))));
    });
  }

  namedVariables(): Map<string, tf.Variable> {
    const { prototypes, scale } = this.built();
    return new Map<string, tf.Variable>([
      [`${this.keyPrefix}prototypes`, prototypes],
      [`${this.keyPrefix}scale`, scale],
    ]);
  }

  namedTrainableVariables(): Map<string, tf.Variable> {
    const result = new Map<string, tf.Variable>();
    for (const [key, variable] of this.namedVariables()) {
      if (variable.trainable) result.set(key, variable);
    }
    return result;
  }

  metadata(): HeadMetadata {
    return {
      type: this.type,
      task: this.task,
      numClasses: this.numClasses,
      inFeatures: this.built().prototypes.shape[1],
      ...(this.classes ? { classes: [...this.classes] } : {}),
      options: {
        scale: this.initialScale,
        learnScale: this.learnScale,
        learnPrototypes: this.learnPrototypes,
        seed: this.seed,
      },
    };
  }

  dispose(): void {
    if (this.variables) tf.dispose([this.variables.prototypes, this.variables.scale]);
    this.variables = undefined;
  }

  private built(): PrototypeVariables {
    if (this.variables === undefined) {
      throw new Error(
        "cosinePrototypeHead: not built yet; attach it to a classifier or call build()",
      );
    }
    return this.variables;
  }
}

/**
 * A cosine-prototype head (Meta-Baseline): scaled cosine similarities to class prototypes.
 * Fill the prototypes from support features with `setPrototypes`.
 */
export function cosinePrototypeHead(options: CosinePrototypeHeadOptions): CosinePrototypeHead {
  return new CosinePrototypeHeadImpl(options);
}
