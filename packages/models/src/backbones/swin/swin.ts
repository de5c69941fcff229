import { createRandom, hashSeed, type Random } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import type { Backbone, BackboneForwardOptions, BackboneMetadata } from "../backbone";
import { uniqueVariableScope } from "../initializers";
import { gelu } from "../transformer/activations";
import { dropPath, dropPathRateOfBlock } from "../transformer/drop-path";
import { applyLayerNorm, type LayerNorm } from "../transformer/layer-norm";
import { applyLinear, type Linear } from "../transformer/linear";
import { fanInUniform } from "../transformer/parameter-initialisers";
import { ParameterStore } from "../transformer/parameter-store";
import { PatchMerging } from "./patch-merging";
import {
  blockWindowAndShift,
  relativePositionOneHot,
  roll,
  type Size2,
  shiftedWindowMask,
  windowPartition,
  windowReverse,
} from "./swin-windows";
import { WindowAttention } from "./window-attention";

/** A Swin Transformer configuration, with timm's `SwinTransformer.__init__` parameter meanings. */
export interface SwinConfig {
  /** Channels of the patch embedding (timm `embed_dim`; 96 for Swin-T); stage i has 2^i times more. */
  embedDim: number;
  /** Blocks per stage (timm `depths`, `[2, 2, 6, 2]` for Swin-T). */
  depths: readonly number[];
  /** Attention heads per stage (timm `num_heads`, `[3, 6, 12, 24]` for Swin-T). */
  numHeads: readonly number[];
  /**
   * Input side the windows are laid out for (timm `img_size`, default 224). timm shrinks a
   * stage's window to its feature map, and turns the shift off, when the map is not larger than
   * the window; that depends on this size. Inputs of other sizes (multiples of the patch size)
   * run with the same windows and masks built for their size, as timm's `dynamic_img_size`.
   */
  imgSize?: number;
  /** Side of the square patches (timm `patch_size`, default 4). */
  patchSize?: number;
  /** Window side, for every stage or one per stage (timm `window_size`, default 7). */
  windowSize?: number | readonly number[];
  /** Channels per attention head, for every stage (timm `head_dim`; default dim / heads). */
  headDim?: number;
  /** MLP hidden width as a multiple of the stage width (timm `mlp_ratio`, default 4). */
  mlpRatio?: number;
  /** Bias on the fused qkv projections (timm `qkv_bias`, default true). */
  qkvBias?: boolean;
  /** Partition and shift even where the map is not larger than the window (timm `always_partition`). */
  alwaysPartition?: boolean;
  /**
   * Stochastic depth in training mode (timm `drop_path_rate`), rising linearly from 0 over the
   * blocks. Default 0 (timm's constructor default is 0.1, a training choice).
   */
  dropPathRate?: number;
  /**
   * Visual prompt tuning as MedFM's `PromptedSwinTransformer` (prompt position "prepend"):
   * learnable tokens (key `prompt_embeddings`, `[1, N, embedDim]`) travel beside the map through
   * every block: in each window attention they are prepended to every window (no relative
   * position bias, never masked) and their outputs averaged over the windows; patch merging
   * repeats their channels four times before its norm and reduction; the pooled features average
   * the map and the prompts. Default 0 (none). {@link Swin.freezeStages} never freezes them.
   */
  promptTokens?: number;
  /** Seed of the deterministic initialisation and of the drop-path draws (default 0). */
  seed?: number;
  /** Architecture name reported by the backbone (default `"swin"`). */
  name?: string;
}

/** A {@link SwinConfig} with every default filled in, as {@link Swin.config} reports it. */
export interface ResolvedSwinConfig {
  embedDim: number;
  depths: number[];
  numHeads: number[];
  imgSize: number;
  patchSize: number;
  windowSize: number[];
  headDim: number | undefined;
  mlpRatio: number;
  qkvBias: boolean;
  alwaysPartition: boolean;
  dropPathRate: number;
  promptTokens: number;
  seed: number;
  name: string;
}

/** Thrown when images do not fit the backbone (rank, channels, sides not multiples of the patch). */
export class SwinInputError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = "SwinInputError";
  }
}

interface SwinBlock {
  stage: number;
  norm1: LayerNorm;
  attention: WindowAttention;
  norm2: LayerNorm;
  fc1: Linear;
  fc2: Linear;
  window: Size2;
  shift: Size2;
  dropPath: number;
}

interface SwinStage {
  downsample: PatchMerging | undefined;
  blocks: SwinBlock[];
}

/** The stage of prompt tokens: none, so that freezing stages never freezes them. */
const PROMPT_STAGE = -1;

/** The map `[B, H, W, C]` and, with prompt tuning, the prompt tokens `[B, N, C]` beside it. */
interface SwinState {
  map: tf.Tensor4D;
  prompts: tf.Tensor3D | undefined;
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`swin: ${name} must be a positive integer, got ${value}`);
  }
}

function resolveConfig(config: SwinConfig): ResolvedSwinConfig {
  const stages = config.depths.length;
  if (stages === 0) throw new RangeError("swin: depths must list at least one stage");
  if (config.numHeads.length !== stages) {
    throw new RangeError(
      `swin: numHeads has ${config.numHeads.length} entries, depths ${stages}; give one per stage`,
    );
  }
  checkPositiveInteger("embedDim", config.embedDim);
  config.depths.forEach((depth, index) => {
    checkPositiveInteger(`depths[${index}]`, depth);
  });
  config.numHeads.forEach((heads, index) => {
    checkPositiveInteger(`numHeads[${index}]`, heads);
  });
  const windowSize =
    typeof config.windowSize === "number" || config.windowSize === undefined
      ? new Array<number>(stages).fill(config.windowSize ?? 7)
      : [...config.windowSize];
  if (windowSize.length !== stages) {
    throw new RangeError(`swin: windowSize has ${windowSize.length} entries, depths ${stages}`);
  }
  windowSize.forEach((side, index) => {
    checkPositiveInteger(`windowSize[${index}]`, side);
  });
  const resolved: ResolvedSwinConfig = {
    embedDim: config.embedDim,
    depths: [...config.depths],
    numHeads: [...config.numHeads],
    imgSize: config.imgSize ?? 224,
    patchSize: config.patchSize ?? 4,
    windowSize,
    headDim: config.headDim,
    mlpRatio: config.mlpRatio ?? 4,
    qkvBias: config.qkvBias ?? true,
    alwaysPartition: config.alwaysPartition ?? false,
    dropPathRate: config.dropPathRate ?? 0,
    promptTokens: config.promptTokens ?? 0,
    seed: config.seed ?? 0,
    name: config.name ?? "swin",
  };
  checkPositiveInteger("imgSize", resolved.imgSize);
  checkPositiveInteger("patchSize", resolved.patchSize);
  if (resolved.headDim !== undefined) checkPositiveInteger("headDim", resolved.headDim);
  if (!(resolved.mlpRatio > 0)) {
    throw new RangeError(`swin: mlpRatio must be positive, got ${config.mlpRatio}`);
  }
  if (!Number.isInteger(resolved.promptTokens) || resolved.promptTokens < 0) {
    throw new RangeError(
      `swin: promptTokens must be a non-negative integer, got ${config.promptTokens}`,
    );
  }
  if (!(resolved.dropPathRate >= 0 && resolved.dropPathRate < 1)) {
    throw new RangeError(`swin: dropPathRate must be in [0, 1), got ${config.dropPathRate}`);
  }
  resolved.depths.forEach((_, index) => {
    const dim = resolved.embedDim * 2 ** index;
    if (resolved.headDim === undefined && dim % resolved.numHeads[index] !== 0) {
      throw new RangeError(
        `swin: stage ${index} has ${dim} channels, not divisible by its ${resolved.numHeads[index]} heads`,
      );
    }
  });
  return resolved;
}

/**
 * A Swin Transformer backbone laid out exactly as timm's `SwinTransformer` (patch embedding and
 * norm; stages of window-attention blocks, shifted on every second block, each stage after the
 * first opening with patch merging; final norm; global average pooling of `forward_head`).
 * Tensors are NHWC; keys are timm's (`patch_embed.proj.weight`, `layers.1.downsample.…`,
 * `layers.0.blocks.1.attn.relative_position_bias_table`, `norm.weight`).
 */
export class Swin implements Backbone {
  readonly name: string;
  readonly numFeatures: number;
  /** `layers.0` … `layers.{n−1}`, as timm's stages (patch merging belongs to the stage it opens). */
  readonly stageNames: readonly string[];
  /** The configuration the backbone was built with (defaults filled in). */
  readonly config: Readonly<ResolvedSwinConfig>;

  private readonly store: ParameterStore;
  private readonly patchEmbed: { weight: tf.Variable<tf.Rank.R4>; bias: tf.Variable<tf.Rank.R1> };
  private readonly patchNorm: LayerNorm;
  private readonly stages: SwinStage[] = [];
  private readonly norm: LayerNorm;
  private readonly prompts: tf.Variable<tf.Rank.R3> | undefined;
  private readonly dropPathRandom: Random;
  private readonly frozenStages = new Set<number>();
  /** One-hot relative position indices by window, shared by the blocks. */
  private readonly oneHots = new Map<string, tf.Tensor2D>();
  /** Shifted-window masks tiled over heads, by map size, window, shift and heads. */
  private readonly masks = new Map<string, tf.Tensor4D>();
  private disposed = false;

  constructor(config: SwinConfig) {
    this.config = resolveConfig(config);
    const { embedDim, patchSize, imgSize } = this.config;
    this.name = this.config.name;
    this.store = new ParameterStore(
      uniqueVariableScope(this.name),
      createRandom(hashSeed(this.config.seed, "swin-init")),
    );
    this.dropPathRandom = createRandom(hashSeed(this.config.seed, "swin-drop-path"));
    const store = this.store;
    const fanIn = patchSize * patchSize * 3;
    this.patchEmbed = {
      weight: store.add(
        "patch_embed.proj.weight",
        [patchSize, patchSize, 3, embedDim],
        0,
        fanInUniform(fanIn),
      ) as tf.Variable<tf.Rank.R4>,
      bias: store.add(
        "patch_embed.proj.bias",
        [embedDim],
        0,
        fanInUniform(fanIn),
      ) as tf.Variable<tf.Rank.R1>,
    };
    this.patchNorm = store.layerNorm("patch_embed.norm", embedDim, 0);
    if (this.config.promptTokens > 0) {
      // VPT's init: uniform in ±sqrt(6 / (3·patch² + D)), as the ViT's prompts.
      const bound = Math.sqrt(6 / (3 * patchSize * patchSize + embedDim));
      this.prompts = store.add(
        "prompt_embeddings",
        [1, this.config.promptTokens, embedDim],
        PROMPT_STAGE,
        (random, size) => Float32Array.from({ length: size }, () => random.uniform(-bound, bound)),
      ) as tf.Variable<tf.Rank.R3>;
    }

    const totalBlocks = this.config.depths.reduce((sum, depth) => sum + depth, 0);
    let resolution = Math.floor(imgSize / patchSize);
    let blockIndex = 0;
    let inDim = embedDim;
    this.config.depths.forEach((depth, stageIndex) => {
      const stage = stageIndex + 1;
      const dim = embedDim * 2 ** stageIndex;
      const prefix = `layers.${stageIndex}`;
      const downsample =
        stageIndex > 0
          ? new PatchMerging(store, `${prefix}.downsample`, inDim, dim, stage)
          : undefined;
      if (stageIndex > 0) resolution = Math.ceil(resolution / 2);
      const targetWindow = this.config.windowSize[stageIndex];
      const targetShift = Math.floor(targetWindow / 2);
      const blocks: SwinBlock[] = [];
      for (let index = 0; index < depth; index += 1) {
        const key = `${prefix}.blocks.${index}`;
        const { window, shift } = blockWindowAndShift(
          [resolution, resolution],
          [targetWindow, targetWindow],
          index % 2 === 0 ? [0, 0] : [targetShift, targetShift],
          this.config.alwaysPartition,
        );
        const hidden = Math.floor(dim * this.config.mlpRatio);
        const norm1 = store.layerNorm(`${key}.norm1`, dim, stage);
        const attention = new WindowAttention(store, {
          key: `${key}.attn`,
          dim,
          numHeads: this.config.numHeads[stageIndex],
          headDim: this.config.headDim,
          window,
          qkvBias: this.config.qkvBias,
          stage,
        });
        const norm2 = store.layerNorm(`${key}.norm2`, dim, stage);
        const fc1 = store.linear(`${key}.mlp.fc1`, dim, hidden, stage);
        const fc2 = store.linear(`${key}.mlp.fc2`, hidden, dim, stage);
        const dropPath = dropPathRateOfBlock(this.config.dropPathRate, blockIndex, totalBlocks);
        blocks.push({ stage, norm1, attention, norm2, fc1, fc2, window, shift, dropPath });
        blockIndex += 1;
      }
      this.stages.push({ downsample, blocks });
      inDim = dim;
    });
    this.numFeatures = inDim;
    this.norm = store.layerNorm("norm", inDim, this.config.depths.length);
    this.stageNames = this.config.depths.map((_, index) => `layers.${index}`);
  }

  /** The map after the final norm, `[B, H/patch/2^(stages−1), …, numFeatures]` (timm `forward_features`). */
  featureMap(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor4D {
    return tf.tidy(() => this.features(images, options).map);
  }

  /** The final map and prompts, each after the final norm. */
  private features(images: tf.Tensor4D, options: BackboneForwardOptions): SwinState {
    this.checkInput(images);
    const { patchSize } = this.config;
    let map = tf.add(
      tf.conv2d(images, this.patchEmbed.weight, patchSize, "valid"),
      this.patchEmbed.bias,
    ) as tf.Tensor4D;
    map = applyLayerNorm(map, this.patchNorm);
    let prompts =
      this.prompts === undefined
        ? undefined
        : (tf.tile(this.prompts, [images.shape[0], 1, 1]) as tf.Tensor3D);
    for (const stage of this.stages) {
      if (stage.downsample !== undefined) {
        map = stage.downsample.apply(map);
        if (prompts !== undefined) prompts = stage.downsample.applyToTokens(prompts);
      }
      for (const block of stage.blocks)
        ({ map, prompts } = this.block(block, { map, prompts }, options));
    }
    return {
      map: applyLayerNorm(map, this.norm),
      prompts: prompts === undefined ? undefined : applyLayerNorm(prompts, this.norm),
    };
  }

  forward(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor2D {
    return tf.tidy(() => {
      const { map, prompts } = this.features(images, options);
      if (prompts === undefined) return this.poolFeatureMap(map);
      // MedFM's PromptedSwinTransformer averages every token, the prompts included.
      const [batch, height, width, channels] = map.shape;
      const tokens = tf.concat([prompts, tf.reshape(map, [batch, height * width, channels])], 1);
      return tf.mean(tokens, 1) as tf.Tensor2D;
    });
  }

  /** Global average pooling over the map, as timm's `ClassifierHead` with `global_pool="avg"`. */
  poolFeatureMap(featureMap: tf.Tensor4D): tf.Tensor2D {
    return tf.mean(featureMap, [1, 2]) as tf.Tensor2D;
  }

  private block(block: SwinBlock, state: SwinState, options: BackboneForwardOptions): SwinState {
    const { map: x, prompts } = state;
    const [batch, height, width, channels] = x.shape;
    const { window, shift } = block;
    const hasShift = shift[0] !== 0 || shift[1] !== 0;
    let shifted = applyLayerNorm(x, block.norm1);
    if (hasShift) shifted = roll(shifted, [-shift[0], -shift[1]]);
    const padHeight = (window[0] - (height % window[0])) % window[0];
    const padWidth = (window[1] - (width % window[1])) % window[1];
    if (padHeight > 0 || padWidth > 0) {
      shifted = tf.pad(shifted, [
        [0, 0],
        [0, padHeight],
        [0, padWidth],
        [0, 0],
      ]);
    }
    const paddedHeight = height + padHeight;
    const paddedWidth = width + padWidth;
    const mask = hasShift
      ? this.mask(paddedHeight, paddedWidth, window, shift, block.attention.numHeads)
      : undefined;
    let windows = windowPartition(shifted, window);
    const windowCount = windows.shape[0] / batch;
    const promptCount = prompts === undefined ? 0 : prompts.shape[1];
    if (prompts !== undefined) {
      // Every window of an image attends to that image's prompts.
      const normed = applyLayerNorm(prompts, block.norm1);
      const perWindow = tf.reshape(tf.tile(tf.expandDims(normed, 1), [1, windowCount, 1, 1]), [
        batch * windowCount,
        promptCount,
        channels,
      ]);
      windows = tf.concat([perWindow, windows], 1) as tf.Tensor3D;
    }
    let attended = block.attention.apply(windows, this.oneHot(window), mask, promptCount);
    let attendedPrompts: tf.Tensor3D | undefined;
    if (prompts !== undefined) {
      const area = window[0] * window[1];
      // The prompts' outputs, averaged over the windows of their image.
      attendedPrompts = tf.mean(
        tf.reshape(tf.slice(attended, [0, 0, 0], [-1, promptCount, -1]), [
          batch,
          windowCount,
          promptCount,
          channels,
        ]),
        1,
      ) as tf.Tensor3D;
      attended = tf.slice(attended, [0, promptCount, 0], [-1, area, -1]);
    }
    let y = windowReverse(attended, window, paddedHeight, paddedWidth);
    if (padHeight > 0 || padWidth > 0) y = tf.slice(y, [0, 0, 0, 0], [-1, height, width, channels]);
    if (hasShift) y = roll(y, shift);
    const frozen = this.frozenStages.has(block.stage);
    const dropping = options.training === true && !frozen && block.dropPath > 0;
    // One keep-or-drop draw per image, applied to its map and its prompts alike.
    const residual = (branch: tf.Tensor4D, promptBranch: tf.Tensor3D | undefined) => {
      if (!dropping) return { map: branch, prompts: promptBranch };
      if (promptBranch === undefined) {
        return { map: dropPath(branch, block.dropPath, this.dropPathRandom), prompts: undefined };
      }
      const scales = dropPath(tf.ones([batch]), block.dropPath, this.dropPathRandom);
      return {
        map: tf.mul(branch, tf.reshape(scales, [batch, 1, 1, 1])) as tf.Tensor4D,
        prompts: tf.mul(promptBranch, tf.reshape(scales, [batch, 1, 1])) as tf.Tensor3D,
      };
    };
    const mlpOf = <T extends tf.Tensor>(input: T): T =>
      applyLinear(gelu(applyLinear(applyLayerNorm(input, block.norm2), block.fc1)), block.fc2);
    const attentionBranch = residual(y, attendedPrompts);
    let out = tf.add(x, attentionBranch.map) as tf.Tensor4D;
    let outPrompts =
      prompts === undefined || attentionBranch.prompts === undefined
        ? undefined
        : (tf.add(prompts, attentionBranch.prompts) as tf.Tensor3D);
    const mlpBranch = residual(
      mlpOf(out),
      outPrompts === undefined ? undefined : mlpOf(outPrompts),
    );
    out = tf.add(out, mlpBranch.map) as tf.Tensor4D;
    if (outPrompts !== undefined && mlpBranch.prompts !== undefined) {
      outPrompts = tf.add(outPrompts, mlpBranch.prompts) as tf.Tensor3D;
    }
    return { map: out, prompts: outPrompts };
  }

  private oneHot(window: Size2): tf.Tensor2D {
    const key = window.join("x");
    let tensor = this.oneHots.get(key);
    if (tensor === undefined) {
      tensor = tf.keep(relativePositionOneHot(window));
      this.oneHots.set(key, tensor);
    }
    return tensor;
  }

  private mask(
    height: number,
    width: number,
    window: Size2,
    shift: Size2,
    numHeads: number,
  ): tf.Tensor4D {
    const key = [height, width, ...window, ...shift, numHeads].join(",");
    let tensor = this.masks.get(key);
    if (tensor === undefined) {
      const area = window[0] * window[1];
      const windows = (height / window[0]) * (width / window[1]);
      const values = shiftedWindowMask(height, width, window, shift);
      // Tiled over heads so that one rank-4 add with a leading broadcast applies it.
      const tiled = new Float32Array(windows * numHeads * area * area);
      for (let index = 0; index < windows; index += 1) {
        const source = values.subarray(index * area * area, (index + 1) * area * area);
        for (let head = 0; head < numHeads; head += 1) {
          tiled.set(source, (index * numHeads + head) * area * area);
        }
      }
      tensor = tf.keep(tf.tensor4d(tiled, [1, windows * numHeads, area, area]));
      this.masks.set(key, tensor);
    }
    return tensor;
  }

  private checkInput(images: tf.Tensor4D): void {
    if (this.disposed) throw new Error(`${this.name}: the backbone was disposed`);
    const { patchSize } = this.config;
    if (images.rank !== 4 || images.shape[3] !== 3) {
      throw new SwinInputError(
        `${this.name}: expected NHWC images with 3 channels, got shape [${images.shape.join(", ")}]`,
      );
    }
    if (images.shape[1] % patchSize !== 0 || images.shape[2] % patchSize !== 0) {
      throw new SwinInputError(
        `${this.name}: image sides must be multiples of the patch size ${patchSize}, got ${images.shape[1]} × ${images.shape[2]}`,
      );
    }
  }

  randomStreams(): Map<string, Random> {
    return new Map([["dropPath", this.dropPathRandom]]);
  }

  metadata(): BackboneMetadata {
    return {
      type: "swin",
      config: {
        ...this.config,
        depths: [...this.config.depths],
        numHeads: [...this.config.numHeads],
        windowSize: [...this.config.windowSize],
      },
    };
  }

  namedVariables(): Map<string, tf.Variable> {
    return this.store.named();
  }

  namedTrainableVariables(): Map<string, tf.Variable> {
    return this.store.namedTrainable();
  }

  /**
   * Freezes `patch_embed` and every stage but the last `trainableStages` (0 freezes everything,
   * final norm included; the final norm trains with the last stage). Frozen blocks skip drop path.
   */
  freezeStages(trainableStages: number): void {
    const stages = this.stages.length;
    if (!Number.isInteger(trainableStages) || trainableStages < 0) {
      throw new RangeError(
        `${this.name}: the number of trainable stages must be a non-negative integer, got ${trainableStages}`,
      );
    }
    if (trainableStages > stages) {
      throw new RangeError(
        `${this.name}: has ${stages} stages, cannot unfreeze ${trainableStages}`,
      );
    }
    const firstTrainable = stages - trainableStages + 1;
    this.frozenStages.clear();
    for (let stage = 0; stage <= stages; stage += 1) {
      if (trainableStages === 0 || stage < firstTrainable) this.frozenStages.add(stage);
    }
    for (const { variable, stage } of this.store.parameters) {
      variable.trainable = !this.frozenStages.has(stage);
    }
  }

  /** Makes every parameter trainable again, `patch_embed` included. */
  unfreezeAll(): void {
    this.frozenStages.clear();
    for (const { variable } of this.store.parameters) variable.trainable = true;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { variable } of this.store.parameters) variable.dispose();
    tf.dispose([...this.oneHots.values(), ...this.masks.values()]);
    this.oneHots.clear();
    this.masks.clear();
  }
}

/** Builds a Swin backbone for any configuration (small ones for tests). */
export function swin(config: SwinConfig): Swin {
  return new Swin(config);
}
