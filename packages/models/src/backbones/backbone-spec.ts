import type { Backbone } from "./backbone";

/** How images are resized to the model's input size. */
export type PreprocessingInterpolation = "bilinear" | "bicubic" | "nearest";

/**
 * The image preprocessing a backbone's weights were trained with. It travels with the weights:
 * a saved model records it in `model.json`, and predict, Grad-CAM and few-shot read it back
 * instead of reapplying ImageNet defaults.
 */
export interface BackbonePreprocessing {
  /** Per-channel mean (RGB) subtracted from pixels scaled to [0, 1]. */
  mean: readonly [number, number, number];
  /** Per-channel standard deviation (RGB) the centred pixels are divided by. */
  std: readonly [number, number, number];
  /** Side of the square input the backbone expects, in pixels (e.g. 224). */
  inputSize: number;
  /** Resampling filter used to resize images. */
  interpolation: PreprocessingInterpolation;
  /**
   * Centre-crop fraction as timm's `crop_pct`: images are first resized to
   * `floor(inputSize / crop)` (as {@link BackbonePreprocessing.cropMode} says), then the centre
   * `inputSize × inputSize` is kept (0.875: 256 then 224; 1: the crop keeps the whole resize).
   */
  crop: number;
  /**
   * How images reach `floor(inputSize / crop)` before the centre crop:
   * - `"center"`: the short side scaled, the aspect ratio kept (timm's default `crop_mode`;
   *   transformers' `size: {shortest_edge}`), so a non-square image loses its long side's ends
   *   even at `crop` 1.
   * - `"squash"`: both sides stretched to it (timm's `crop_mode="squash"`; transformers'
   *   `size: {height, width}`; mmpretrain's `Resize` and MedFM's configs at `crop` 1).
   *
   * Absent: `"center"` when `crop < 1`, `"squash"` at `crop` 1, the rule before the mode was
   * recorded, so `model.json` files written without it load as they did.
   */
  cropMode?: PreprocessingCropMode;
  /**
   * Whose rounding places the centre crop: `"torchvision"` (default: timm's evaluation
   * transform, corner rounded half to even) or `"transformers"` (its image processors, corner
   * floored); they differ by a pixel where the margin is odd.
   */
  cropConvention?: PreprocessingCropConvention;
}

/** How an image is resized before the centre crop; see {@link BackbonePreprocessing.cropMode}. */
export type PreprocessingCropMode = "center" | "squash";

/** Whose rounding places a centre crop; see {@link BackbonePreprocessing.cropConvention}. */
export type PreprocessingCropConvention = "torchvision" | "transformers";

/** A named configuration of an architecture, e.g. `densenet121` or `vit-small-patch16`. */
export interface BackbonePreset<Config extends object = Record<string, unknown>> {
  /** Preset name as the CLI's `--backbone` and `medfm models` show it. */
  name: string;
  /** One line for listings. */
  description: string;
  /** The architecture configuration the preset builds. */
  config: Config;
  /** Preprocessing of this preset when it differs from the spec's default. */
  preprocessing?: BackbonePreprocessing;
}

/** How an architecture reads published weights (torch state dicts, safetensors files). */
export interface BackboneWeights<Config extends object = Record<string, unknown>> {
  /**
   * Maps a key as published (legacy torchvision names, a Hugging Face `transformers` prefix …)
   * to the backbone's native key, or `undefined` to drop the tensor. Head keys pass through.
   */
  normaliseKey(key: string): string | undefined;
  /**
   * Converts a torch tensor (values row-major in torch layout, with its torch shape) under its
   * native key to the layout the backbone stores (e.g. OIHW convolutions to HWIO, `[out, in]`
   * linear weights to `[in, out]`). Returns the values and the native shape.
   */
  toNative(
    key: string,
    values: Float32Array,
    shape: readonly number[],
  ): { values: Float32Array; shape: number[] };
  /**
   * Infers the architecture configuration from the tensor shapes of a state dict (native keys),
   * so a checkpoint loads without the user naming the configuration. Throws when the keys do
   * not describe this architecture.
   */
  inferConfig(shapes: ReadonlyMap<string, readonly number[]>): Config;
  /**
   * The inverse of {@link toNative}, for writing torch-layout state dicts. Optional: without
   * it, rank-4 tensors go HWIO → OIHW and rank-2 `{@link headPrefix}….weight` tensors are
   * transposed, which is right for CNNs with a linear head.
   */
  fromNative?(
    key: string,
    values: Float32Array,
    shape: readonly number[],
  ): { values: Float32Array; shape: number[] };
  /** Prefix of the classification head's keys in published checkpoints (`classifier.`, `head.`). */
  headPrefix: string;
  /**
   * Rewrites a published state dict (torch layout, published keys) before keys are mapped one to
   * one by {@link normaliseKey}: for tensors a layout splits or merges, e.g. Hugging Face's
   * separate query/key/value projections fused into timm's `qkv`. Names `source` in errors.
   */
  prepareStateDict?(
    state: ReadonlyMap<string, PublishedTensor>,
    source: string,
  ): Map<string, PublishedTensor>;
}

/** A tensor of a published state dict: values row-major in torch layout, and its torch shape. */
export interface PublishedTensor {
  /** Values, row-major. */
  values: Float32Array;
  /** Torch shape. */
  shape: readonly number[];
}

/**
 * A Hugging Face hub checkpoint's configuration files, parsed, as `fromPretrained` hands them
 * to {@link BackboneHubSupport.configFromHub}.
 */
export interface HubModelConfig {
  /** Repository id (`org/name`) or the local folder the files came from. */
  repo: string;
  /**
   * `config.json`: timm's (`architecture`, `num_classes`, `model_args`, `pretrained_cfg`) or
   * transformers' (`model_type`, `hidden_size`, `patch_size`, …, or `vision_config` for CLIP).
   */
  config: Record<string, unknown>;
  /** transformers' `preprocessor_config.json`, when the repository has one. */
  preprocessorConfig?: Record<string, unknown>;
}

/** The prompt tokens of a configuration, as {@link BackbonePromptSupport} reads and sets them. */
export interface PromptTokenSettings {
  /** Learnable tokens inserted at the first block (0: none). */
  tokens: number;
  /** VPT-deep: every block after the first gets its own prompt tokens. */
  deep: boolean;
}

/**
 * Visual prompt tuning (Jia et al. 2022) for architectures that take tokens: how a
 * configuration gains prompt tokens. `withPromptTokens` builds the prompted backbone from an
 * unprompted one through it, so every loader (torch files, hub, saved classifiers) stays strict
 * and prompts are added after loading. Omit for CNNs (they use the pixel-frame prompt).
 */
export interface BackbonePromptSupport<Config extends object = Record<string, unknown>> {
  /** The prompt tokens `config` builds (`tokens: 0` for none). */
  promptsOf(config: Config): PromptTokenSettings;
  /**
   * `config` with `prompts` set; `seed` seeds the prompts' initialisation (the VPT init the
   * architecture uses), and may reseed the rest of a fresh build, whose weights are then
   * overwritten by the loaded ones.
   */
  withPrompts(config: Config, prompts: PromptTokenSettings, seed: number): Config;
}

/** How an architecture recognises the hub checkpoints it can build. */
export interface BackboneHubSupport<Config extends object = Record<string, unknown>> {
  /**
   * What {@link configFromHub} accepts, in words, for the error that lists the supported
   * checkpoints (e.g. `timm swin_{tiny,small,base}_patch4_window7_224`, `transformers swin`).
   */
  accepts: readonly string[];
  /**
   * The configuration a hub checkpoint describes, or `undefined` when its `config.json` is not
   * one of this architecture's (another spec may read it). Throws when the config names this
   * architecture but a value is unsupported (say what and which file).
   */
  configFromHub(config: HubModelConfig): Config | undefined;
}

/**
 * Everything the library knows about one architecture. Registering a spec (one line in
 * `registry.ts`) makes the architecture available to `model.json`, `createClassifierFromTorch`,
 * the feature cache, `medfm models` and the CLI's `--backbone` choices.
 */
export interface BackboneSpec<Config extends object = Record<string, unknown>> {
  /** Architecture family recorded in `model.json` (`"densenet"`, `"vit"`, `"swin"`). */
  type: string;
  /** Named configurations, first the default. */
  presets: readonly BackbonePreset<Config>[];
  /** Builds a backbone from a configuration (as recorded by `Backbone.metadata().config`). */
  create(config: Config): Backbone;
  /** How published weights map onto the backbone. */
  weights: BackboneWeights<Config>;
  /** Default preprocessing of the architecture's pretrained weights. */
  preprocessing: BackbonePreprocessing;
  /**
   * Which Hugging Face hub checkpoints (timm or transformers `config.json`) build this
   * architecture; `fromPretrained` asks every registered spec. Omit for architectures that
   * load from files only.
   */
  hub?: BackboneHubSupport<Config>;
  /** Prompt tokens for visual prompt tuning; omit for architectures without tokens. */
  prompts?: BackbonePromptSupport<Config>;
}

/** ImageNet normalisation (torchvision and timm defaults), 224 px, bilinear, no crop. */
export const IMAGENET_PREPROCESSING: Readonly<BackbonePreprocessing> = Object.freeze({
  mean: Object.freeze([0.485, 0.456, 0.406]) as unknown as readonly [number, number, number],
  std: Object.freeze([0.229, 0.224, 0.225]) as unknown as readonly [number, number, number],
  inputSize: 224,
  interpolation: "bilinear",
  crop: 1,
});
