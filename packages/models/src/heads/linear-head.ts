import { createRandom, hashSeed, type Random } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import {
  createVariable,
  linearUniformWeight,
  uniqueVariableScope,
} from "../backbones/initializers";
import {
  alreadyBuilt,
  checkDropout,
  checkHeadOptions,
  DEFAULT_HEAD_KEY_PREFIX,
  type Head,
  type HeadBuildOptions,
  type HeadForwardOptions,
  type HeadMetadata,
  type HeadOptions,
} from "./head";

/** Options of {@link linearHead}. */
export interface LinearHeadOptions extends HeadOptions {
  /** Dropout on the features before the linear layer in training mode (default 0). */
  dropout?: number;
  /**
   * L2-normalise each feature vector before the linear layer (default false): MedFM's
   * "Baseline", a logistic regression on normalised features, is this head.
   */
  normalizeFeatures?: boolean;
}

/**
 * torchvision's `classifier`: one linear layer (keys `classifier.weight`, `classifier.bias`),
 * optionally after dropout. Weight `[in, out]` channels-last (torch stores `[out, in]`),
 * initialised like torch's `nn.Linear` with the bias at 0 as torchvision's DenseNet sets it.
 */
class LinearHead implements Head {
  readonly type = "linear" as const;
  readonly task;
  readonly numClasses: number;
  readonly classes: readonly string[] | undefined;
  inFeatures: number | undefined;
  private keyPrefix = DEFAULT_HEAD_KEY_PREFIX;
  private readonly dropout: number;
  private readonly normalizeFeatures: boolean;
  private readonly seed: number;
  private readonly dropoutRandom: Random;
  private weight: tf.Variable<tf.Rank.R2> | undefined;
  private bias: tf.Variable<tf.Rank.R1> | undefined;

  constructor(options: LinearHeadOptions) {
    checkHeadOptions("linearHead", options);
    this.dropout = options.dropout ?? 0;
    checkDropout("linearHead", this.dropout);
    this.normalizeFeatures = options.normalizeFeatures ?? false;
    this.task = options.kind;
    this.numClasses = options.numClasses;
    this.classes = options.classes ? [...options.classes] : undefined;
    this.seed = options.seed ?? 0;
    this.dropoutRandom = createRandom(hashSeed(this.seed, "linear-head-dropout"));
  }

  build(inFeatures: number, options: HeadBuildOptions = {}): void {
    if (alreadyBuilt("linearHead", this.inFeatures, inFeatures)) return;
    this.keyPrefix = options.keyPrefix ?? DEFAULT_HEAD_KEY_PREFIX;
    const scope = uniqueVariableScope("linear_head");
    const random = createRandom(hashSeed(this.seed, "linear-head-init"));
    this.weight = createVariable(
      () => linearUniformWeight(random, inFeatures, this.numClasses),
      true,
      `${scope}/${this.keyPrefix}weight`,
    );
    this.bias = createVariable(
      () => tf.zeros([this.numClasses]),
      true,
      `${scope}/${this.keyPrefix}bias`,
    );
    this.inFeatures = inFeatures;
  }

  forward(features: tf.Tensor2D, options: HeadForwardOptions): tf.Tensor2D {
    const { weight, bias } = this.built();
    return tf.tidy(() => {
      let x = features;
      if (this.normalizeFeatures) {
        // As sklearn's normalize(): zero vectors stay zero.
        x = tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), 1e-12));
      }
      if (options.training && this.dropout > 0) {
        x = tf.dropout(x, this.dropout, undefined, this.dropoutRandom.int(2 ** 31)) as tf.Tensor2D;
      }
      return tf.add(tf.matMul(x, weight), bias);
    });
  }

  namedVariables(): Map<string, tf.Variable> {
    const { weight, bias } = this.built();
    return new Map<string, tf.Variable>([
      [`${this.keyPrefix}weight`, weight],
      [`${this.keyPrefix}bias`, bias],
    ]);
  }

  randomStreams(): Map<string, Random> {
    return new Map([["dropout", this.dropoutRandom]]);
  }

  namedTrainableVariables(): Map<string, tf.Variable> {
    return this.namedVariables();
  }

  metadata(): HeadMetadata {
    return {
      type: this.type,
      task: this.task,
      numClasses: this.numClasses,
      inFeatures: this.built().weight.shape[0],
      ...(this.classes ? { classes: [...this.classes] } : {}),
      options: {
        dropout: this.dropout,
        seed: this.seed,
        ...(this.normalizeFeatures ? { normalizeFeatures: true } : {}),
      },
    };
  }

  dispose(): void {
    this.weight?.dispose();
    this.bias?.dispose();
    this.weight = undefined;
    this.bias = undefined;
  }

  private built(): { weight: tf.Variable<tf.Rank.R2>; bias: tf.Variable<tf.Rank.R1> } {
    if (this.weight === undefined || this.bias === undefined) {
      throw new Error("linearHead: not built yet; attach it to a classifier or call build()");
    }
    return { weight: this.weight, bias: this.bias };
  }
}

/** A linear head: softmax scores for `multi-class`, sigmoid scores for `multi-label`. */
export function linearHead(options: LinearHeadOptions): Head {
  return new LinearHead(options);
}
