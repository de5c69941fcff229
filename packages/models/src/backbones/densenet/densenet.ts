import { createRandom, hashSeed, type Random } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { MedfmConv2dBatchNormRelu } from "../../backend/kernel-names";
import { runMedfmKernel } from "../../backend/kernel-registry";
import { recordingGradients } from "../../backend/recording-gradients";
import type { Backbone, BackboneForwardOptions, BackboneMetadata } from "../backbone";
import { createVariable, kaimingNormalFilter, uniqueVariableScope } from "../initializers";
import { BatchNorm2d, batchMoments } from "./batch-norm";
import { denseBlockTraining } from "./dense-block-native";

/** A DenseNet configuration, with torchvision's `DenseNet.__init__` parameter meanings. */
export interface DenseNetConfig {
  /** Channels each dense layer adds (torchvision `growth_rate`, 32 for DenseNet-121). */
  growthRate: number;
  /** Dense layers per block (torchvision `block_config`, `[6, 12, 24, 16]` for DenseNet-121). */
  blockConfig: readonly number[];
  /** Channels of the stem convolution (torchvision `num_init_features`). */
  numInitFeatures: number;
  /** Bottleneck width as a multiple of the growth rate (torchvision `bn_size`). */
  bnSize: number;
  /** Dropout rate after each dense layer in training mode (torchvision `drop_rate`, default 0). */
  dropRate?: number;
  /**
   * Recompute each dense layer's bottleneck (concatenation, norm1, relu1, conv1) in the
   * backward pass instead of keeping it, as torchvision's `memory_efficient=True` does.
   */
  memoryEfficient?: boolean;
  /** Seed of the deterministic initialisation and of dropout masks (default 0). */
  seed?: number;
  /** Architecture name reported by the backbone (default `"densenet"`). */
  name?: string;
}

/** A convolution without bias, stored channels-last `[kh, kw, in, out]` (torch: OIHW). */
interface Conv {
  key: string;
  filter: tf.Variable<tf.Rank.R4>;
  frozen: boolean;
}

interface DenseLayer {
  norm1: BatchNorm2d;
  conv1: Conv;
  norm2: BatchNorm2d;
  conv2: Conv;
}

interface Transition {
  norm: BatchNorm2d;
  conv: Conv;
}

/** The torchvision configuration of DenseNet-121 (7,978,856 parameters with 1000 classes). */
export const DENSENET121_CONFIG: Readonly<DenseNetConfig> = Object.freeze({
  growthRate: 32,
  blockConfig: Object.freeze([6, 12, 24, 16]),
  numInitFeatures: 64,
  bnSize: 4,
  name: "densenet121",
});

/** The torchvision configuration of DenseNet-169. */
export const DENSENET169_CONFIG: Readonly<DenseNetConfig> = Object.freeze({
  growthRate: 32,
  blockConfig: Object.freeze([6, 12, 32, 32]),
  numInitFeatures: 64,
  bnSize: 4,
  name: "densenet169",
});

/** The torchvision configuration of DenseNet-201. */
export const DENSENET201_CONFIG: Readonly<DenseNetConfig> = Object.freeze({
  growthRate: 32,
  blockConfig: Object.freeze([6, 12, 48, 32]),
  numInitFeatures: 64,
  bnSize: 4,
  name: "densenet201",
});

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`densenet: ${name} must be a positive integer, got ${value}`);
  }
}

/**
 * A DenseNet backbone laid out exactly as torchvision's `DenseNet.features` (stem conv0, norm0,
 * relu0, pool0; dense blocks; transitions; norm5) followed by the final ReLU and global average
 * pooling of `DenseNet.forward`. Tensors are NHWC inside; keys are torchvision's.
 */
export class DenseNet implements Backbone {
  readonly name: string;
  readonly numFeatures: number;
  readonly stageNames: readonly string[];
  /** The configuration the backbone was built with (defaults filled in). */
  readonly config: Readonly<Required<Omit<DenseNetConfig, "name">>> & { name: string };

  private readonly conv0: Conv;
  private readonly norm0: BatchNorm2d;
  private readonly blocks: DenseLayer[][] = [];
  private readonly transitions: Transition[] = [];
  private readonly norm5: BatchNorm2d;
  private readonly dropoutRandom: Random;
  private disposed = false;

  constructor(config: DenseNetConfig) {
    checkPositiveInteger("growthRate", config.growthRate);
    checkPositiveInteger("numInitFeatures", config.numInitFeatures);
    checkPositiveInteger("bnSize", config.bnSize);
    if (config.blockConfig.length === 0) {
      throw new RangeError("densenet: blockConfig must list at least one block");
    }
    config.blockConfig.forEach((layers, index) => {
      checkPositiveInteger(`blockConfig[${index}]`, layers);
    });
    const dropRate = config.dropRate ?? 0;
    if (!(dropRate >= 0 && dropRate < 1)) {
      throw new RangeError(`densenet: dropRate must be in [0, 1), got ${config.dropRate}`);
    }
    const seed = config.seed ?? 0;
    this.config = {
      growthRate: config.growthRate,
      blockConfig: [...config.blockConfig],
      numInitFeatures: config.numInitFeatures,
      bnSize: config.bnSize,
      dropRate,
      memoryEfficient: config.memoryEfficient ?? false,
      seed,
      name: config.name ?? "densenet",
    };
    this.name = this.config.name;
    const scope = uniqueVariableScope(this.name);
    const random = createRandom(hashSeed(seed, "densenet-init"));
    this.dropoutRandom = createRandom(hashSeed(seed, "densenet-dropout"));
    const conv = (key: string, shape: [number, number, number, number]): Conv => ({
      key,
      filter: createVariable(
        () => kaimingNormalFilter(random, shape),
        true,
        `${scope}/${key}.weight`,
      ),
      frozen: false,
    });

    this.conv0 = conv("features.conv0", [7, 7, 3, config.numInitFeatures]);
    this.norm0 = new BatchNorm2d(scope, "features.norm0", config.numInitFeatures);
    let numFeatures = config.numInitFeatures;
    const bottleneckWidth = config.bnSize * config.growthRate;
    config.blockConfig.forEach((numLayers, blockIndex) => {
      const block: DenseLayer[] = [];
      for (let layerIndex = 0; layerIndex < numLayers; layerIndex += 1) {
        const prefix = `features.denseblock${blockIndex + 1}.denselayer${layerIndex + 1}`;
        const inChannels = numFeatures + layerIndex * config.growthRate;
        block.push({
          norm1: new BatchNorm2d(scope, `${prefix}.norm1`, inChannels),
          conv1: conv(`${prefix}.conv1`, [1, 1, inChannels, bottleneckWidth]),
          norm2: new BatchNorm2d(scope, `${prefix}.norm2`, bottleneckWidth),
          conv2: conv(`${prefix}.conv2`, [3, 3, bottleneckWidth, config.growthRate]),
        });
      }
      this.blocks.push(block);
      numFeatures += numLayers * config.growthRate;
      if (blockIndex !== config.blockConfig.length - 1) {
        const prefix = `features.transition${blockIndex + 1}`;
        const outChannels = Math.floor(numFeatures / 2);
        this.transitions.push({
          norm: new BatchNorm2d(scope, `${prefix}.norm`, numFeatures),
          conv: conv(`${prefix}.conv`, [1, 1, numFeatures, outChannels]),
        });
        numFeatures = outChannels;
      }
    });
    this.norm5 = new BatchNorm2d(scope, "features.norm5", numFeatures);
    this.numFeatures = numFeatures;
    this.stageNames = this.blocks.map((_, index) => `denseblock${index + 1}`);
  }

  featureMap(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor4D {
    this.checkInput(images);
    return tf.tidy(() => {
      // Explicit pads + "valid": tfjs-node's native kernels accept only "valid"/"same", not a
      // number. Zero-padding the max pool equals torch's −∞ padding because it follows a ReLU.
      let x = convBatchNormRelu(
        tf.pad(images, [
          [0, 0],
          [3, 3],
          [3, 3],
          [0, 0],
        ]),
        this.conv0.filter,
        2,
        "valid",
        this.norm0,
        options,
      );
      x = tf.maxPool(
        tf.pad(x, [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ]),
        3,
        2,
        "valid",
      );
      // Each block gives its features as pieces whose concatenation is the block's output: the
      // norm after it reads them (see `BatchNorm2d.applyReluToPieces`).
      let pieces: tf.Tensor4D[] = [x];
      this.blocks.forEach((block, blockIndex) => {
        pieces = this.denseBlock(block, pieces[0], options);
        const transition = this.transitions[blockIndex];
        if (transition !== undefined) {
          x = transition.norm.applyReluToPieces(pieces, options);
          x = tf.conv2d(x, transition.conv.filter, 1, "valid");
          pieces = [tf.avgPool(x, 2, 2, "valid")];
        }
      });
      return this.norm5.applyReluToPieces(pieces, options);
    });
  }

  forward(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor2D {
    return tf.tidy(() => this.poolFeatureMap(this.featureMap(images, options)));
  }

  /** Global average pooling, as torchvision's `adaptive_avg_pool2d(…, (1, 1))`. */
  poolFeatureMap(featureMap: tf.Tensor4D): tf.Tensor2D {
    return tf.mean(featureMap, [1, 2]) as tf.Tensor2D;
  }

  /**
   * A dense block's features as pieces in channel order, whose concatenation is the block's
   * output: the input and every layer's new features where the norms read pieces (eval mode
   * outside gradient recording: no concatenation is made), one concatenation elsewhere.
   */
  private denseBlock(
    block: DenseLayer[],
    input: tf.Tensor4D,
    options: BackboneForwardOptions,
  ): tf.Tensor4D[] {
    // A frozen block runs its norms on running statistics: nothing to recompute there.
    const recompute =
      this.config.memoryEfficient &&
      options.training &&
      block.every((layer) => !layer.norm1.frozen);
    // torchvision concatenates every earlier output before each layer. The standard path keeps
    // one growing concatenation (same tensor, same channel order); the memory-efficient path
    // keeps the pieces and concatenates inside the recomputed bottleneck, so the tape holds
    // O(layers) small tensors instead of O(layers²) channels of concatenations.
    // A block whose layers all train (no dropout, nothing frozen, statistics updated) runs as
    // one op with a written-out backward, on every backend (each registers its kernels).
    if (
      options.training &&
      !recompute &&
      this.config.dropRate === 0 &&
      options.updateStatistics !== false &&
      block.every((layer) =>
        [layer.norm1, layer.conv1, layer.norm2, layer.conv2].every((module) => !module.frozen),
      )
    ) {
      return [denseBlockTraining(block, input)];
    }
    if (
      !(options.training && this.config.dropRate > 0) &&
      block.every((layer) => layer.norm1.readsPieces(options))
    ) {
      // Each norm1 reads the block's features from their pieces: torchvision's concatenations,
      // which only feed the norms here, are never made.
      const pieces: tf.Tensor4D[] = [input];
      for (const layer of block) {
        const activated = convBatchNormRelu(
          layer.norm1.applyReluToPieces(pieces, options),
          layer.conv1.filter,
          1,
          "valid",
          layer.norm2,
          options,
        );
        pieces.push(tf.conv2d(activated, layer.conv2.filter, 1, "same"));
      }
      return pieces;
    }
    let features = input;
    const pieces: tf.Tensor4D[] = [input];
    for (const layer of block) {
      const activated = recompute
        ? layer.norm2.apply(this.bottleneckRecomputed(layer, pieces, options), {
            ...options,
            relu: true,
          })
        : this.bottleneck(layer, features, options);
      let fresh = tf.conv2d(activated, layer.conv2.filter, 1, "same");
      if (options.training && this.config.dropRate > 0) {
        fresh = tf.dropout(
          fresh,
          this.config.dropRate,
          undefined,
          this.dropoutRandom.int(2 ** 31),
        ) as tf.Tensor4D;
      }
      pieces.push(fresh);
      features = recompute ? fresh : (tf.concat([features, fresh], 3) as tf.Tensor4D);
    }
    return recompute ? pieces : [features];
  }

  /**
   * `relu2(norm2(conv1(relu1(norm1(features)))))`, conv1, norm2 and relu2 as one fused op in
   * inference (see {@link convBatchNormRelu}).
   */
  private bottleneck(
    layer: DenseLayer,
    features: tf.Tensor4D,
    options: BackboneForwardOptions,
  ): tf.Tensor4D {
    return convBatchNormRelu(
      layer.norm1.apply(features, { ...options, relu: true }),
      layer.conv1.filter,
      1,
      "valid",
      layer.norm2,
      options,
    );
  }

  /**
   * The bottleneck (concatenation, norm1, relu1, conv1) as one custom-gradient op, as
   * torchvision's `memory_efficient=True` checkpoints it: the forward keeps only the pieces
   * and the output; the backward recomputes the concatenation and the normalised activations
   * (without touching the running statistics again) and applies the closed-form gradients in
   * {@link bottleneckGradients}, split back onto the pieces.
   */
  private bottleneckRecomputed(
    layer: DenseLayer,
    pieces: tf.Tensor4D[],
    options: BackboneForwardOptions,
  ): tf.Tensor4D {
    const [batch, height, width] = pieces[0].shape;
    const count = batch * height * width;
    const norm = layer.norm1;
    const sizes = pieces.map((piece) => piece.shape[3]);
    const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const inputs = args.slice(0, pieces.length) as tf.Tensor4D[];
      const [weight, bias, filter] = args.slice(pieces.length, pieces.length + 3) as [
        tf.Tensor1D,
        tf.Tensor1D,
        tf.Tensor4D,
      ];
      const save = args[pieces.length + 3] as tf.GradSaveFunc;
      save([...inputs, weight, bias, filter]);
      // Only the output leaves this tidy: the concatenation and its activations are dropped.
      const value = tf.tidy(() => {
        const x = inputs.length === 1 ? inputs[0] : (tf.concat(inputs, 3) as tf.Tensor4D);
        const { mean, variance } = batchMoments(x);
        if (options.updateStatistics !== false) norm.updateStatistics(mean, variance, count);
        const normalised = tf.batchNorm4d(x, mean, variance, bias, weight, norm.eps);
        return tf.conv2d(tf.relu(normalised), filter, 1, "valid");
      });
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.tidy(() => {
            const savedInputs = saved.slice(0, sizes.length) as tf.Tensor4D[];
            const x =
              savedInputs.length === 1
                ? savedInputs[0]
                : (tf.concat(savedInputs, 3) as tf.Tensor4D);
            const [dx, dWeight, dBias, dFilter] = bottleneckGradients(
              dy as tf.Tensor4D,
              [x, ...(saved.slice(sizes.length) as [tf.Tensor1D, tf.Tensor1D, tf.Tensor4D])],
              norm.eps,
            );
            const dPieces = sizes.length === 1 ? [dx] : tf.split(dx, sizes, 3);
            return [...dPieces, dWeight, dBias, dFilter];
          }),
      };
    });
    return op(...pieces, norm.weight, norm.bias, layer.conv1.filter) as tf.Tensor4D;
  }

  private checkInput(images: tf.Tensor4D): void {
    if (this.disposed) throw new Error(`${this.name}: the backbone was disposed`);
    if (images.rank !== 4 || images.shape[3] !== 3) {
      throw new RangeError(
        `${this.name}: expected NHWC images with 3 channels, got shape [${images.shape.join(", ")}]`,
      );
    }
  }

  private *norms(): Generator<BatchNorm2d> {
    yield this.norm0;
    for (let blockIndex = 0; blockIndex < this.blocks.length; blockIndex += 1) {
      for (const layer of this.blocks[blockIndex]) {
        yield layer.norm1;
        yield layer.norm2;
      }
      const transition = this.transitions[blockIndex];
      if (transition !== undefined) yield transition.norm;
    }
    yield this.norm5;
  }

  /** Convolutions and norms in torchvision's module order, with their stage (0 = stem). */
  private *modules(): Generator<{ stage: number; module: Conv | BatchNorm2d }> {
    yield { stage: 0, module: this.conv0 };
    yield { stage: 0, module: this.norm0 };
    for (let blockIndex = 0; blockIndex < this.blocks.length; blockIndex += 1) {
      for (const layer of this.blocks[blockIndex]) {
        yield { stage: blockIndex + 1, module: layer.norm1 };
        yield { stage: blockIndex + 1, module: layer.conv1 };
        yield { stage: blockIndex + 1, module: layer.norm2 };
        yield { stage: blockIndex + 1, module: layer.conv2 };
      }
      const transition = this.transitions[blockIndex];
      // A transition feeds the next block, so it belongs to that block's stage.
      if (transition !== undefined) {
        yield { stage: blockIndex + 2, module: transition.norm };
        yield { stage: blockIndex + 2, module: transition.conv };
      }
    }
    yield { stage: this.blocks.length, module: this.norm5 };
  }

  randomStreams(): Map<string, Random> {
    return new Map([["dropout", this.dropoutRandom]]);
  }

  metadata(): BackboneMetadata {
    return {
      type: "densenet",
      config: { ...this.config, blockConfig: [...this.config.blockConfig] },
    };
  }

  namedVariables(): Map<string, tf.Variable> {
    const result = new Map<string, tf.Variable>();
    for (const { module } of this.modules()) {
      if (module instanceof BatchNorm2d) {
        for (const [key, variable] of module.entries()) result.set(key, variable);
      } else {
        result.set(`${module.key}.weight`, module.filter);
      }
    }
    return result;
  }

  namedTrainableVariables(): Map<string, tf.Variable> {
    const result = new Map<string, tf.Variable>();
    for (const { module } of this.modules()) {
      if (module.frozen) continue;
      if (module instanceof BatchNorm2d) {
        result.set(`${module.key}.weight`, module.weight);
        result.set(`${module.key}.bias`, module.bias);
      } else {
        result.set(`${module.key}.weight`, module.filter);
      }
    }
    return result;
  }

  nonTensorState(): Map<string, number> {
    const result = new Map<string, number>();
    for (const norm of this.norms()) {
      result.set(`${norm.key}.num_batches_tracked`, norm.numBatchesTracked);
    }
    return result;
  }

  setNonTensorState(counters: Map<string, number>): void {
    const norms = new Map<string, BatchNorm2d>();
    for (const norm of this.norms()) norms.set(`${norm.key}.num_batches_tracked`, norm);
    for (const [key, value] of counters) {
      const norm = norms.get(key);
      if (norm === undefined) throw new RangeError(`${this.name}: unknown counter ${key}`);
      norm.numBatchesTracked = value;
    }
  }

  freezeStages(trainableStages: number): void {
    if (!Number.isInteger(trainableStages) || trainableStages < 0) {
      throw new RangeError(
        `${this.name}: the number of trainable stages must be a non-negative integer, got ${trainableStages}`,
      );
    }
    if (trainableStages > this.blocks.length) {
      throw new RangeError(
        `${this.name}: has ${this.blocks.length} dense blocks, cannot unfreeze ${trainableStages}`,
      );
    }
    const firstTrainable = this.blocks.length - trainableStages + 1;
    for (const { stage, module } of this.modules()) {
      const frozen = trainableStages === 0 || stage < firstTrainable;
      module.frozen = frozen;
      if (module instanceof BatchNorm2d) {
        module.weight.trainable = !frozen;
        module.bias.trainable = !frozen;
      } else {
        module.filter.trainable = !frozen;
      }
    }
  }

  /** Makes every parameter trainable again, the stem included. */
  unfreezeAll(): void {
    for (const { module } of this.modules()) {
      module.frozen = false;
      if (module instanceof BatchNorm2d) {
        module.weight.trainable = true;
        module.bias.trainable = true;
      } else {
        module.filter.trainable = true;
      }
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { module } of this.modules()) {
      if (module instanceof BatchNorm2d) module.dispose();
      else module.filter.dispose();
    }
  }
}

/**
 * Gradients of `conv1x1(relu(batchNorm(x)))` with batch statistics, recomputing the
 * normalised activations from the saved input. A nested `tf.grads` cannot be used here: inside
 * a backward pass it would replace and then clear the outer gradient tape. The convolution's
 * gradients go through the backend's own `Conv2DBackpropFilter` / `Conv2DBackpropInput`
 * kernels (the fast ones on wasm), and the batch-norm backward is torch's closed form:
 * `dx = γ·r·(dz − mean(dz) − x̂·mean(dz·x̂))`, written as one batch norm for the correction.
 * Returns the gradients of `[x, weight, bias, filter]`.
 */
function bottleneckGradients(
  dy: tf.Tensor4D,
  [x, weight, bias, filter]: [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D, tf.Tensor4D],
  eps: number,
): tf.Tensor[] {
  return tf.tidy(() => {
    const count = x.shape[0] * x.shape[1] * x.shape[2];
    const { mean, variance } = batchMoments(x);
    const normalised = tf.batchNorm4d(x, mean, variance, undefined, undefined, eps);
    const preActivation = tf.add(tf.mul(normalised, weight), bias) as tf.Tensor4D;
    const activation = tf.relu(preActivation);
    const convolution = { strides: 1, pad: "valid", dataFormat: "NHWC" };
    const dFilter = tf
      .engine()
      .runKernel(
        "Conv2DBackpropFilter",
        { x: activation, dy },
        { ...convolution, filterShape: filter.shape },
      ) as tf.Tensor4D;
    const dActivation = tf
      .engine()
      .runKernel(
        "Conv2DBackpropInput",
        { dy, filter },
        { ...convolution, inputShape: x.shape },
      ) as tf.Tensor4D;
    const dPreActivation = tf.mul(dActivation, tf.step(preActivation));
    const dBias = tf.sum(dPreActivation, [0, 1, 2]) as tf.Tensor1D;
    const dWeight = tf.sum(tf.mul(dPreActivation, normalised), [0, 1, 2]) as tf.Tensor1D;
    const perChannel = tf.mul(weight, tf.rsqrt(tf.add(variance, eps))) as tf.Tensor1D;
    const correction = tf.batchNorm4d(
      x,
      mean,
      variance,
      tf.mul(perChannel, tf.div(dBias, count)) as tf.Tensor1D,
      tf.mul(perChannel, tf.div(dWeight, count)) as tf.Tensor1D,
      eps,
    );
    const dx = tf.sub(tf.mul(dPreActivation, perChannel), correction);
    return [dx, dWeight, dBias, dFilter];
  });
}

/** Builds a DenseNet backbone for any configuration (small ones for tests). */
export function densenet(config: DenseNetConfig): DenseNet {
  return new DenseNet(config);
}

/** Options of the named DenseNet factories. */
export interface DenseNetPresetOptions {
  /** Seed of the deterministic initialisation (default 0). */
  seed?: number;
  /** Recompute bottlenecks in the backward pass to save memory. */
  memoryEfficient?: boolean;
  /** Dropout after each dense layer in training mode (default 0). */
  dropRate?: number;
}

/** torchvision's DenseNet-121: growth 32, blocks 6-12-24-16, 64 initial features, 1024 out. */
export function densenet121(options: DenseNetPresetOptions = {}): DenseNet {
  return new DenseNet({ ...DENSENET121_CONFIG, ...options });
}

/** torchvision's DenseNet-169: growth 32, blocks 6-12-32-32, 64 initial features, 1664 out. */
export function densenet169(options: DenseNetPresetOptions = {}): DenseNet {
  return new DenseNet({ ...DENSENET169_CONFIG, ...options });
}

/** torchvision's DenseNet-201: growth 32, blocks 6-12-48-32, 64 initial features, 1920 out. */
export function densenet201(options: DenseNetPresetOptions = {}): DenseNet {
  return new DenseNet({ ...DENSENET201_CONFIG, ...options });
}

/**
 * `relu(norm(conv2d(x, filter)))`. Where the norm uses its running statistics (eval mode or a
 * frozen norm) and no gradient tape records, one {@link MedfmConv2dBatchNormRelu} kernel (oneDNN's
 * fused convolution on the native backend, the three ops elsewhere); otherwise the convolution and
 * {@link BatchNorm2d.apply}, so training and Grad-CAM differentiate the same ops as before.
 */
function convBatchNormRelu(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  stride: number,
  padding: "valid" | "same",
  norm: BatchNorm2d,
  options: BackboneForwardOptions,
): tf.Tensor4D {
  if ((!options.training || norm.frozen) && !recordingGradients()) {
    return runMedfmKernel(
      MedfmConv2dBatchNormRelu,
      {
        x,
        filter,
        scale: norm.weight,
        offset: norm.bias,
        mean: norm.runningMean,
        variance: norm.runningVar,
      },
      { stride, padding, epsilon: norm.eps },
    ) as tf.Tensor4D;
  }
  return norm.apply(tf.conv2d(x, filter, stride, padding), { ...options, relu: true });
}
