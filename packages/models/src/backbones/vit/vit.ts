import { createRandom, hashSeed, type Random } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import type { Backbone, BackboneForwardOptions, BackboneMetadata } from "../backbone";
import { uniqueVariableScope } from "../initializers";
import type { TransformerActivation } from "../transformer/activations";
import { dropPath, dropPathRateOfBlock } from "../transformer/drop-path";
import { applyLayerNorm, type LayerNorm } from "../transformer/layer-norm";
import { applyMlp, type Mlp } from "../transformer/mlp";
import { constant, fanInUniform, truncatedNormal } from "../transformer/parameter-initialisers";
import { ParameterStore } from "../transformer/parameter-store";
import {
  type PositionInterpolation,
  resamplePositionEmbedding,
} from "./resample-position-embedding";
import { VitAttention } from "./vit-attention";

/** How the token sequence becomes the feature vector (timm `global_pool`). */
export type VitGlobalPool = "token" | "avg";

/** A Vision Transformer configuration, with timm's `VisionTransformer.__init__` meanings. */
export interface VitConfig {
  /** Token width (timm `embed_dim`; 384 for ViT-S). */
  embedDim: number;
  /** Transformer blocks (timm `depth`). */
  depth: number;
  /** Attention heads (timm `num_heads`). */
  numHeads: number;
  /** Input side the position embedding is laid out for (timm `img_size`, default 224). */
  imgSize?: number;
  /** Side of the square patches (timm `patch_size`, default 16). */
  patchSize?: number;
  /** MLP hidden width as a multiple of `embedDim` (timm `mlp_ratio`, default 4). */
  mlpRatio?: number;
  /** Bias on the fused qkv projection (timm `qkv_bias`, default true). */
  qkvBias?: boolean;
  /** A CLS token (timm `class_token`, default true). */
  classToken?: boolean;
  /** Register tokens after the CLS token (timm `reg_tokens`, default 0). */
  regTokens?: number;
  /**
   * The position embedding covers the patches only, added before the prefix tokens are
   * concatenated (timm `no_embed_class`, DeiT-3 and DINOv2 with registers; default false).
   */
  noEmbedClass?: boolean;
  /** A LayerNorm before the blocks and no patch-embedding bias (timm `pre_norm`, CLIP; default false). */
  preNorm?: boolean;
  /** LayerScale initial value (timm `init_values`); undefined for no LayerScale. */
  initValues?: number;
  /** Pooling (timm `global_pool`, default `"token"`). */
  globalPool?: VitGlobalPool;
  /** Norm after pooling instead of before (timm `fc_norm`; default: `globalPool === "avg"`). */
  fcNorm?: boolean;
  /** LayerNorm epsilon (timm 1e-6; Hugging Face ViT 1e-12, CLIP 1e-5). */
  layerNormEps?: number;
  /** MLP activation (timm `act_layer`: `gelu`, or `quick_gelu` for OpenAI CLIP). */
  activation?: TransformerActivation;
  /**
   * How the position grid is resampled for inputs of another size: `"bicubic-antialias"` (timm's
   * `resample_abs_pos_embed`, default) or `"bicubic"` (transformers' `interpolate_pos_encoding`,
   * which `Dinov2Model` always applies).
   */
  positionInterpolation?: PositionInterpolation;
  /** Stochastic depth in training mode (timm `drop_path_rate`, default 0), linear over blocks. */
  dropPathRate?: number;
  /**
   * Visual prompt tuning (Jia et al. 2022): learnable prompt tokens inserted after the prefix
   * tokens, without position embedding (default 0, none). Keys `prompt_embeddings` `[1, N, D]`
   * and, for {@link deepPrompts}, `deep_prompt_embeddings` `[depth − 1, N, D]`, as the VPT code
   * names them. {@link Vit.freezeStages} never freezes them: freeze every stage and train the
   * prompts and the head.
   */
  promptTokens?: number;
  /** VPT-deep: every block after the first replaces the prompt tokens by its own (default false, VPT-shallow). */
  deepPrompts?: boolean;
  /** Seed of the deterministic initialisation and of the drop-path draws (default 0). */
  seed?: number;
  /** Architecture name reported by the backbone (default `"vit"`). */
  name?: string;
}

/** A {@link VitConfig} with every default filled in, as {@link Vit.config} reports it. */
export interface ResolvedVitConfig {
  embedDim: number;
  depth: number;
  numHeads: number;
  imgSize: number;
  patchSize: number;
  mlpRatio: number;
  qkvBias: boolean;
  classToken: boolean;
  regTokens: number;
  noEmbedClass: boolean;
  preNorm: boolean;
  initValues: number | undefined;
  globalPool: VitGlobalPool;
  fcNorm: boolean;
  layerNormEps: number;
  activation: TransformerActivation;
  positionInterpolation: PositionInterpolation;
  dropPathRate: number;
  promptTokens: number;
  deepPrompts: boolean;
  seed: number;
  name: string;
}

/** Thrown when images do not fit the backbone (rank, channels, sides not multiples of the patch). */
export class VitInputError extends RangeError {
  constructor(message: string) {
    super(message);
    this.name = "VitInputError";
  }
}

interface VitBlock {
  stage: number;
  norm1: LayerNorm;
  attention: VitAttention;
  layerScale1: tf.Variable<tf.Rank.R1> | undefined;
  norm2: LayerNorm;
  mlp: Mlp;
  layerScale2: tf.Variable<tf.Rank.R1> | undefined;
  dropPath: number;
}

/** The stage of prompt tokens: none, so that freezing stages never freezes them. */
const PROMPT_STAGE = -1;

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`vit: ${name} must be a positive integer, got ${value}`);
  }
}

function resolveConfig(config: VitConfig): ResolvedVitConfig {
  const globalPool = config.globalPool ?? "token";
  const resolved: ResolvedVitConfig = {
    embedDim: config.embedDim,
    depth: config.depth,
    numHeads: config.numHeads,
    imgSize: config.imgSize ?? 224,
    patchSize: config.patchSize ?? 16,
    mlpRatio: config.mlpRatio ?? 4,
    qkvBias: config.qkvBias ?? true,
    classToken: config.classToken ?? true,
    regTokens: config.regTokens ?? 0,
    noEmbedClass: config.noEmbedClass ?? false,
    preNorm: config.preNorm ?? false,
    initValues: config.initValues,
    globalPool,
    fcNorm: config.fcNorm ?? globalPool === "avg",
    layerNormEps: config.layerNormEps ?? 1e-6,
    activation: config.activation ?? "gelu",
    positionInterpolation: config.positionInterpolation ?? "bicubic-antialias",
    dropPathRate: config.dropPathRate ?? 0,
    promptTokens: config.promptTokens ?? 0,
    deepPrompts: config.deepPrompts ?? false,
    seed: config.seed ?? 0,
    name: config.name ?? "vit",
  };
  checkPositiveInteger("embedDim", resolved.embedDim);
  checkPositiveInteger("depth", resolved.depth);
  checkPositiveInteger("numHeads", resolved.numHeads);
  checkPositiveInteger("imgSize", resolved.imgSize);
  checkPositiveInteger("patchSize", resolved.patchSize);
  if (resolved.embedDim % resolved.numHeads !== 0) {
    throw new RangeError(
      `vit: embedDim ${resolved.embedDim} is not divisible by its ${resolved.numHeads} heads`,
    );
  }
  if (!Number.isInteger(resolved.regTokens) || resolved.regTokens < 0) {
    throw new RangeError(`vit: regTokens must be a non-negative integer, got ${config.regTokens}`);
  }
  if (!Number.isInteger(resolved.promptTokens) || resolved.promptTokens < 0) {
    throw new RangeError(
      `vit: promptTokens must be a non-negative integer, got ${config.promptTokens}`,
    );
  }
  if (resolved.deepPrompts && resolved.promptTokens === 0) {
    throw new RangeError("vit: deepPrompts needs promptTokens > 0");
  }
  if (!(resolved.mlpRatio > 0)) {
    throw new RangeError(`vit: mlpRatio must be positive, got ${config.mlpRatio}`);
  }
  if (globalPool === "token" && !resolved.classToken) {
    throw new RangeError('vit: globalPool "token" needs a class token');
  }
  if (!(resolved.dropPathRate >= 0 && resolved.dropPathRate < 1)) {
    throw new RangeError(`vit: dropPathRate must be in [0, 1), got ${config.dropPathRate}`);
  }
  return resolved;
}

/**
 * A Vision Transformer laid out exactly as timm's `VisionTransformer`: convolutional patch
 * embedding, CLS and register tokens, learned position embedding (resampled bicubically, as
 * timm's `dynamic_img_size`, for inputs of another size), optional pre-norm, pre-norm blocks with
 * optional LayerScale, final norm, and `global_pool` `"token"` (CLS) or `"avg"` (mean of the
 * patch tokens, then `fc_norm`). Keys are timm's (`cls_token`, `pos_embed`,
 * `patch_embed.proj.weight`, `blocks.3.attn.qkv.weight`, `blocks.3.ls1.gamma`, `norm.weight`).
 */
export class Vit implements Backbone {
  readonly name: string;
  readonly numFeatures: number;
  /** `blocks.0` … `blocks.{depth−1}`; the stem freezes with everything, the final norm with the last block. */
  readonly stageNames: readonly string[];
  /** The configuration the backbone was built with (defaults filled in). */
  readonly config: Readonly<ResolvedVitConfig>;
  /** Tokens before the patches: CLS (if any) then registers (timm `num_prefix_tokens`). */
  readonly numPrefixTokens: number;

  private readonly store: ParameterStore;
  private readonly clsToken: tf.Variable<tf.Rank.R3> | undefined;
  private readonly regToken: tf.Variable<tf.Rank.R3> | undefined;
  private readonly posEmbed: tf.Variable<tf.Rank.R3>;
  private readonly patchEmbed: {
    weight: tf.Variable<tf.Rank.R4>;
    bias: tf.Variable<tf.Rank.R1> | undefined;
  };
  private readonly normPre: LayerNorm | undefined;
  private readonly blocks: VitBlock[] = [];
  private readonly norm: LayerNorm | undefined;
  private readonly fcNorm: LayerNorm | undefined;
  private readonly prompts: tf.Variable<tf.Rank.R3> | undefined;
  private readonly deepPrompts: tf.Variable<tf.Rank.R3> | undefined;
  private readonly dropPathRandom: Random;
  private readonly frozenStages = new Set<number>();
  private disposed = false;

  constructor(config: VitConfig) {
    this.config = resolveConfig(config);
    const { embedDim, patchSize, imgSize, depth } = this.config;
    this.name = this.config.name;
    this.store = new ParameterStore(
      uniqueVariableScope(this.name),
      createRandom(hashSeed(this.config.seed, "vit-init")),
    );
    this.dropPathRandom = createRandom(hashSeed(this.config.seed, "vit-drop-path"));
    const store = this.store;
    this.numPrefixTokens = (this.config.classToken ? 1 : 0) + this.config.regTokens;
    const grid = Math.floor(imgSize / patchSize);
    const embedLength = grid * grid + (this.config.noEmbedClass ? 0 : this.numPrefixTokens);
    // timm's state_dict order: cls_token, pos_embed, reg_token, patch_embed, norm_pre, blocks.
    this.clsToken = this.config.classToken
      ? (store.add(
          "cls_token",
          [1, 1, embedDim],
          0,
          truncatedNormal(1e-6),
        ) as tf.Variable<tf.Rank.R3>)
      : undefined;
    this.posEmbed = store.add(
      "pos_embed",
      [1, embedLength, embedDim],
      0,
      truncatedNormal(0.02),
    ) as tf.Variable<tf.Rank.R3>;
    this.regToken =
      this.config.regTokens > 0
        ? (store.add(
            "reg_token",
            [1, this.config.regTokens, embedDim],
            0,
            truncatedNormal(1e-6),
          ) as tf.Variable<tf.Rank.R3>)
        : undefined;
    const fanIn = patchSize * patchSize * 3;
    this.patchEmbed = {
      weight: store.add(
        "patch_embed.proj.weight",
        [patchSize, patchSize, 3, embedDim],
        0,
        fanInUniform(fanIn),
      ) as tf.Variable<tf.Rank.R4>,
      bias: this.config.preNorm
        ? undefined
        : (store.add(
            "patch_embed.proj.bias",
            [embedDim],
            0,
            fanInUniform(fanIn),
          ) as tf.Variable<tf.Rank.R1>),
    };
    this.normPre = this.config.preNorm ? store.layerNorm("norm_pre", embedDim, 0) : undefined;
    const hidden = Math.round(embedDim * this.config.mlpRatio);
    const { initValues } = this.config;
    for (let index = 0; index < depth; index += 1) {
      const key = `blocks.${index}`;
      const stage = index + 1;
      const norm1 = store.layerNorm(`${key}.norm1`, embedDim, stage);
      const attention = new VitAttention(
        store,
        `${key}.attn`,
        embedDim,
        this.config.numHeads,
        this.config.qkvBias,
        stage,
      );
      const layerScale1 =
        initValues === undefined
          ? undefined
          : (store.add(
              `${key}.ls1.gamma`,
              [embedDim],
              stage,
              constant(initValues),
            ) as tf.Variable<tf.Rank.R1>);
      const norm2 = store.layerNorm(`${key}.norm2`, embedDim, stage);
      const mlp = {
        fc1: store.linear(`${key}.mlp.fc1`, embedDim, hidden, stage),
        fc2: store.linear(`${key}.mlp.fc2`, hidden, embedDim, stage),
      };
      const layerScale2 =
        initValues === undefined
          ? undefined
          : (store.add(
              `${key}.ls2.gamma`,
              [embedDim],
              stage,
              constant(initValues),
            ) as tf.Variable<tf.Rank.R1>);
      this.blocks.push({
        stage,
        norm1,
        attention,
        layerScale1,
        norm2,
        mlp,
        layerScale2,
        dropPath: dropPathRateOfBlock(this.config.dropPathRate, index, depth),
      });
    }
    this.norm = this.config.fcNorm ? undefined : store.layerNorm("norm", embedDim, depth);
    this.fcNorm = this.config.fcNorm ? store.layerNorm("fc_norm", embedDim, depth) : undefined;
    this.numFeatures = embedDim;
    const { promptTokens } = this.config;
    if (promptTokens > 0) {
      // VPT's init: uniform in ±sqrt(6 / (3·patch² + D)); stage −1: freezeStages leaves them.
      const bound = Math.sqrt(6 / (3 * patchSize * patchSize + embedDim));
      const uniform = (random: Random, size: number) =>
        Float32Array.from({ length: size }, () => random.uniform(-bound, bound));
      this.prompts = store.add(
        "prompt_embeddings",
        [1, promptTokens, embedDim],
        PROMPT_STAGE,
        uniform,
      ) as tf.Variable<tf.Rank.R3>;
      if (this.config.deepPrompts && depth > 1) {
        this.deepPrompts = store.add(
          "deep_prompt_embeddings",
          [depth - 1, promptTokens, embedDim],
          PROMPT_STAGE,
          uniform,
        ) as tf.Variable<tf.Rank.R3>;
      }
    }
    this.stageNames = this.blocks.map((_, index) => `blocks.${index}`);
    if (this.config.globalPool === "avg") {
      this.featureMap = (images, options) => this.patchTokenMap(images, options);
      this.poolFeatureMap = (map) => this.poolPatchMap(map);
    }
  }

  /**
   * The patch tokens after the final norm laid out on the patch grid, `[B, H/patch, W/patch, D]`;
   * present only for `globalPool: "avg"`, whose pooling it feeds (Grad-CAM).
   */
  readonly featureMap?: (images: tf.Tensor4D, options: BackboneForwardOptions) => tf.Tensor4D;
  /** Mean over the grid then `fc_norm`, as timm's `forward_head` (present with {@link featureMap}). */
  readonly poolFeatureMap?: (featureMap: tf.Tensor4D) => tf.Tensor2D;

  /** The patch grid of an input, `[rows, columns]`. */
  gridSize(images: tf.Tensor4D): [number, number] {
    const { patchSize } = this.config;
    return [images.shape[1] / patchSize, images.shape[2] / patchSize];
  }

  /** Every token after the final norm, `[B, prefix + patches, D]` (timm `forward_features`). */
  forwardTokens(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor3D {
    return this.runBlocks(images, options);
  }

  /**
   * The blocks and the final norm. With `readout` (the token pool's CLS token), the last block
   * computes only the first `readout` tokens' outputs: the other tokens' rows after the last
   * attention reach no pooled feature, so their attention rows, projection, MLP and norm (about
   * a twelfth of ViT-S's work) are skipped; the rows computed are the same values.
   */
  private runBlocks(
    images: tf.Tensor4D,
    options: BackboneForwardOptions,
    readout?: number,
  ): tf.Tensor3D {
    this.checkInput(images);
    const last = this.blocks.length - 1;
    return tf.tidy(() => {
      let x = this.embed(images);
      if (this.normPre !== undefined) x = applyLayerNorm(x, this.normPre, this.config.layerNormEps);
      if (this.prompts !== undefined) x = this.insertPrompts(x, this.prompts, false);
      this.blocks.forEach((block, index) => {
        if (this.deepPrompts !== undefined && index > 0) {
          const layer = tf.slice(this.deepPrompts, [index - 1, 0, 0], [1, -1, -1]);
          x = this.insertPrompts(x, layer, true);
        }
        x = this.block(block, x, options, index === last ? readout : undefined);
      });
      return this.norm === undefined ? x : applyLayerNorm(x, this.norm, this.config.layerNormEps);
    });
  }

  forward(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor2D {
    const readout = this.config.globalPool === "token" ? 1 : undefined;
    return tf.tidy(() => this.pool(this.runBlocks(images, options, readout)));
  }

  /** timm's `forward_head(pre_logits=True)`: the CLS token, or the mean of the patch tokens then `fc_norm`. */
  pool(tokens: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => {
      if (this.config.globalPool === "token") {
        return tf.reshape(tf.slice(tokens, [0, 0, 0], [-1, 1, -1]), [
          -1,
          this.numFeatures,
        ]) as tf.Tensor2D;
      }
      const patches = tf.slice(tokens, [0, this.numLeadingTokens, 0], [-1, -1, -1]);
      const pooled = tf.mean(patches, 1) as tf.Tensor2D;
      return this.fcNorm === undefined
        ? pooled
        : applyLayerNorm(pooled, this.fcNorm, this.config.layerNormEps);
    });
  }

  /** Tokens before the patches in {@link forwardTokens}' output: prefix, then prompts. */
  get numLeadingTokens(): number {
    return this.numPrefixTokens + this.config.promptTokens;
  }

  /** Puts the prompts after the prefix tokens, replacing the previous layer's when `replace`. */
  private insertPrompts(x: tf.Tensor3D, prompts: tf.Tensor3D, replace: boolean): tf.Tensor3D {
    const batch = x.shape[0];
    const prefix = tf.slice(x, [0, 0, 0], [-1, this.numPrefixTokens, -1]);
    const rest = tf.slice(
      x,
      [0, this.numPrefixTokens + (replace ? this.config.promptTokens : 0), 0],
      [-1, -1, -1],
    );
    return tf.concat([prefix, tf.tile(prompts, [batch, 1, 1]), rest], 1);
  }

  private patchTokenMap(images: tf.Tensor4D, options: BackboneForwardOptions): tf.Tensor4D {
    return tf.tidy(() => {
      const [rows, columns] = this.gridSize(images);
      const tokens = this.forwardTokens(images, options);
      const patches = tf.slice(tokens, [0, this.numLeadingTokens, 0], [-1, -1, -1]);
      return tf.reshape(patches, [-1, rows, columns, this.numFeatures]) as tf.Tensor4D;
    });
  }

  private poolPatchMap(map: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const pooled = tf.mean(map, [1, 2]) as tf.Tensor2D;
      return this.fcNorm === undefined
        ? pooled
        : applyLayerNorm(pooled, this.fcNorm, this.config.layerNormEps);
    });
  }

  /** Patch embedding, prefix tokens and position embedding (timm `patch_embed` + `_pos_embed`). */
  private embed(images: tf.Tensor4D): tf.Tensor3D {
    const { patchSize, imgSize, noEmbedClass } = this.config;
    const batch = images.shape[0];
    const [rows, columns] = this.gridSize(images);
    let patches: tf.Tensor = tf.conv2d(images, this.patchEmbed.weight, patchSize, "valid");
    if (this.patchEmbed.bias !== undefined) patches = tf.add(patches, this.patchEmbed.bias);
    let x = tf.reshape(patches, [batch, rows * columns, this.numFeatures]) as tf.Tensor3D;
    const grid = Math.floor(imgSize / patchSize);
    const positionPrefix = noEmbedClass ? 0 : this.numPrefixTokens;
    let position: tf.Tensor3D = this.posEmbed;
    if (rows !== grid || columns !== grid) {
      const patchPart = tf.slice(this.posEmbed, [0, positionPrefix, 0], [-1, -1, -1]);
      const resampled = resamplePositionEmbedding(
        patchPart,
        [grid, grid],
        [rows, columns],
        this.config.positionInterpolation,
      );
      position =
        positionPrefix > 0
          ? tf.concat([tf.slice(this.posEmbed, [0, 0, 0], [-1, positionPrefix, -1]), resampled], 1)
          : resampled;
    }
    const prefix: tf.Tensor3D[] = [];
    if (this.clsToken !== undefined) prefix.push(tf.tile(this.clsToken, [batch, 1, 1]));
    if (this.regToken !== undefined) prefix.push(tf.tile(this.regToken, [batch, 1, 1]));
    if (noEmbedClass) {
      x = tf.add(x, position);
      return prefix.length > 0 ? tf.concat([...prefix, x], 1) : x;
    }
    if (prefix.length > 0) x = tf.concat([...prefix, x], 1);
    return tf.add(x, position);
  }

  /** One block; with `queries`, only the first `queries` tokens' outputs (see `runBlocks`). */
  private block(
    block: VitBlock,
    x: tf.Tensor3D,
    options: BackboneForwardOptions,
    queries?: number,
  ): tf.Tensor3D {
    const eps = this.config.layerNormEps;
    const stream =
      queries === undefined ? x : (tf.slice(x, [0, 0, 0], [-1, queries, -1]) as tf.Tensor3D);
    const dropping =
      options.training === true && !this.frozenStages.has(block.stage) && block.dropPath > 0;
    const residual = (branch: tf.Tensor3D, scale: tf.Variable<tf.Rank.R1> | undefined) => {
      const scaled = scale === undefined ? branch : (tf.mul(branch, scale) as tf.Tensor3D);
      return dropping ? dropPath(scaled, block.dropPath, this.dropPathRandom) : scaled;
    };
    // Without LayerScale or drop path, each branch's last linear layer adds the stream itself.
    const normalised1 = applyLayerNorm(x, block.norm1, eps);
    const afterAttention =
      block.layerScale1 === undefined && !dropping
        ? block.attention.apply(normalised1, stream, queries)
        : (tf.add(
            stream,
            residual(block.attention.apply(normalised1, undefined, queries), block.layerScale1),
          ) as tf.Tensor3D);
    const normalised = applyLayerNorm(afterAttention, block.norm2, eps);
    if (block.layerScale2 === undefined && !dropping) {
      return applyMlp(normalised, block.mlp, this.config.activation, afterAttention);
    }
    const mlp = applyMlp(normalised, block.mlp, this.config.activation);
    return tf.add(afterAttention, residual(mlp, block.layerScale2)) as tf.Tensor3D;
  }

  private checkInput(images: tf.Tensor4D): void {
    if (this.disposed) throw new Error(`${this.name}: the backbone was disposed`);
    const { patchSize } = this.config;
    if (images.rank !== 4 || images.shape[3] !== 3) {
      throw new VitInputError(
        `${this.name}: expected NHWC images with 3 channels, got shape [${images.shape.join(", ")}]`,
      );
    }
    if (images.shape[1] % patchSize !== 0 || images.shape[2] % patchSize !== 0) {
      throw new VitInputError(
        `${this.name}: image sides must be multiples of the patch size ${patchSize}, got ${images.shape[1]} × ${images.shape[2]}`,
      );
    }
  }

  randomStreams(): Map<string, Random> {
    return new Map([["dropPath", this.dropPathRandom]]);
  }

  metadata(): BackboneMetadata {
    const { initValues, ...rest } = this.config;
    return { type: "vit", config: initValues === undefined ? rest : { ...rest, initValues } };
  }

  namedVariables(): Map<string, tf.Variable> {
    return this.store.named();
  }

  namedTrainableVariables(): Map<string, tf.Variable> {
    return this.store.namedTrainable();
  }

  /**
   * Freezes the stem (patch embedding, tokens, position embedding, `norm_pre`) and every block
   * but the last `trainableStages` (0 freezes everything, final norm included; the final norm
   * trains with the last block). Frozen blocks skip drop path. Prompt tokens stay trainable, so
   * `freezeStages(0)` is visual prompt tuning.
   */
  freezeStages(trainableStages: number): void {
    const stages = this.blocks.length;
    if (!Number.isInteger(trainableStages) || trainableStages < 0) {
      throw new RangeError(
        `${this.name}: the number of trainable stages must be a non-negative integer, got ${trainableStages}`,
      );
    }
    if (trainableStages > stages) {
      throw new RangeError(
        `${this.name}: has ${stages} blocks, cannot unfreeze ${trainableStages}`,
      );
    }
    const firstTrainable = stages - trainableStages + 1;
    this.frozenStages.clear();
    for (let stage = 0; stage <= stages; stage += 1) {
      if (trainableStages === 0 || stage < firstTrainable) this.frozenStages.add(stage);
    }
    for (const { variable, stage } of this.store.parameters) {
      variable.trainable = stage === PROMPT_STAGE || !this.frozenStages.has(stage);
    }
  }

  /** Makes every parameter trainable again, the stem included. */
  unfreezeAll(): void {
    this.frozenStages.clear();
    for (const { variable } of this.store.parameters) variable.trainable = true;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const { variable } of this.store.parameters) variable.dispose();
  }
}

/** Builds a ViT backbone for any configuration (small ones for tests). */
export function vit(config: VitConfig): Vit {
  return new Vit(config);
}
