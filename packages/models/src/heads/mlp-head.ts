import { createRandom, hashSeed, type Random } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { linearUniformWeight, uniqueVariableScope } from "../backbones/initializers";
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

/** Options of {@link mlpHead}. */
export interface MlpHeadOptions extends HeadOptions {
  /** Width of the hidden layer. */
  hiddenFeatures: number;
  /** Dropout after the hidden ReLU in training mode (default 0). */
  dropout?: number;
}

interface MlpVariables {
  hiddenWeight: tf.Variable<tf.Rank.R2>;
  hiddenBias: tf.Variable<tf.Rank.R1>;
  outputWeight: tf.Variable<tf.Rank.R2>;
  outputBias: tf.Variable<tf.Rank.R1>;
}

/**
 * Linear → ReLU → Dropout → Linear, keyed as torch's
 * `nn.Sequential(nn.Linear, nn.ReLU, nn.Dropout, nn.Linear)`: `classifier.0.*`, `classifier.3.*`.
 */
class MlpHead implements Head {
  readonly type = "mlp" as const;
  readonly task;
  readonly numClasses: number;
  readonly classes: readonly string[] | undefined;
  inFeatures: number | undefined;
  private keyPrefix = DEFAULT_HEAD_KEY_PREFIX;
  private readonly hiddenFeatures: number;
  private readonly dropout: number;
  private readonly seed: number;
  private readonly dropoutRandom: Random;
  private variables: MlpVariables | undefined;

  constructor(options: MlpHeadOptions) {
    checkHeadOptions("mlpHead", options);
    if (!Number.isInteger(options.hiddenFeatures) || options.hiddenFeatures <= 0) {
      throw new RangeError(
        `mlpHead: hiddenFeatures must be a positive integer, got ${options.hiddenFeatures}`,
      );
    }
    this.dropout = options.dropout ?? 0;
    checkDropout("mlpHead", this.dropout);
    this.task = options.kind;
    this.numClasses = options.numClasses;
    this.classes = options.classes ? [...options.classes] : undefined;
    this.hiddenFeatures = options.hiddenFeatures;
    this.seed = options.seed ?? 0;
    this.dropoutRandom = createRandom(hashSeed(this.seed, "mlp-head-dropout"));
  }

  build(inFeatures: number, options: HeadBuildOptions = {}): void {
    if (alreadyBuilt("mlpHead", this.inFeatures, inFeatures)) return;
    this.keyPrefix = options.keyPrefix ?? DEFAULT_HEAD_KEY_PREFIX;
    const scope = uniqueVariableScope("mlp_head");
    const random = createRandom(hashSeed(this.seed, "mlp-head-init"));
    const hiddenBound = 1 / Math.sqrt(inFeatures);
    const outputBound = 1 / Math.sqrt(this.hiddenFeatures);
    const uniformBias = (size: number, bound: number): tf.Tensor1D =>
      tf.tensor1d(Float32Array.from({ length: size }, () => random.uniform(-bound, bound)));
    const hiddenWeight = linearUniformWeight(random, inFeatures, this.hiddenFeatures);
    const hiddenBias = uniformBias(this.hiddenFeatures, hiddenBound);
    const outputWeight = linearUniformWeight(random, this.hiddenFeatures, this.numClasses);
    const outputBias = uniformBias(this.numClasses, outputBound);
    this.variables = {
      hiddenWeight: tf.variable(hiddenWeight, true, `${scope}/${this.keyPrefix}0.weight`),
      hiddenBias: tf.variable(hiddenBias, true, `${scope}/${this.keyPrefix}0.bias`),
      outputWeight: tf.variable(outputWeight, true, `${scope}/${this.keyPrefix}3.weight`),
      outputBias: tf.variable(outputBias, true, `${scope}/${this.keyPrefix}3.bias`),
    };
    tf.dispose([hiddenWeight, hiddenBias, outputWeight, outputBias]);
    this.inFeatures = inFeatures;
  }

  forward(features: tf.Tensor2D, options: HeadForwardOptions): tf.Tensor2D {
    const variables = this.built();
    return tf.tidy(() => {
      let hidden = tf.relu(
        tf.add(tf.matMul(features, variables.hiddenWeight), variables.hiddenBias),
      );
      if (options.training && this.dropout > 0) {
        hidden = tf.dropout(hidden, this.dropout, undefined, this.dropoutRandom.int(2 ** 31));
      }
      return tf.add(tf.matMul(hidden, variables.outputWeight), variables.outputBias);
    });
  }

  namedVariables(): Map<string, tf.Variable> {
    const variables = this.built();
    return new Map<string, tf.Variable>([
      [`${this.keyPrefix}0.weight`, variables.hiddenWeight],
      [`${this.keyPrefix}0.bias`, variables.hiddenBias],
      [`${this.keyPrefix}3.weight`, variables.outputWeight],
      [`${this.keyPrefix}3.bias`, variables.outputBias],
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
      inFeatures: this.built().hiddenWeight.shape[0],
      ...(this.classes ? { classes: [...this.classes] } : {}),
      options: { hiddenFeatures: this.hiddenFeatures, dropout: this.dropout, seed: this.seed },
    };
  }

  dispose(): void {
    if (this.variables) tf.dispose(Object.values(this.variables));
    this.variables = undefined;
  }

  private built(): MlpVariables {
    if (this.variables === undefined) {
      throw new Error("mlpHead: not built yet; attach it to a classifier or call build()");
    }
    return this.variables;
  }
}

/** A two-layer perceptron head with a ReLU hidden layer and optional dropout. */
export function mlpHead(options: MlpHeadOptions): Head {
  return new MlpHead(options);
}
