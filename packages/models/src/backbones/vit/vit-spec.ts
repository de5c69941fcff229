import type { BackbonePreprocessing, BackbonePreset, BackboneSpec } from "../backbone-spec";
import { IMAGENET_PREPROCESSING } from "../backbone-spec";
import { Vit, type VitConfig } from "./vit";
import { vitHubSupport } from "./vit-hub-config";
import { fuseSplitQkv, inferVitConfig, normaliseVitKey, vitTensorToNative } from "./vit-keys";

/**
 * The preprocessing of timm's augreg ViT weights (`vit_*_patch16_224.augreg_in21k`): mean and std
 * 0.5, 224 px, bicubic, `crop_pct` 0.9.
 */
export const VIT_PREPROCESSING: Readonly<BackbonePreprocessing> = Object.freeze({
  mean: Object.freeze([0.5, 0.5, 0.5]) as unknown as readonly [number, number, number],
  std: Object.freeze([0.5, 0.5, 0.5]) as unknown as readonly [number, number, number],
  inputSize: 224,
  interpolation: "bicubic",
  crop: 0.9,
  cropMode: "center",
});

/**
 * DINOv2's preprocessing (timm `vit_*_patch14_dinov2`): ImageNet mean and std, bicubic,
 * `crop_pct` 1 in timm's default `"center"` mode (the short side to the input size, the centre
 * square kept).
 */
export const DINOV2_PREPROCESSING: Readonly<BackbonePreprocessing> = Object.freeze({
  ...IMAGENET_PREPROCESSING,
  interpolation: "bicubic",
  crop: 1,
  cropMode: "center",
});

const SIZES = {
  tiny: { embedDim: 192, depth: 12, numHeads: 3, label: "ViT-Ti" },
  small: { embedDim: 384, depth: 12, numHeads: 6, label: "ViT-S" },
  base: { embedDim: 768, depth: 12, numHeads: 12, label: "ViT-B" },
  large: { embedDim: 1024, depth: 24, numHeads: 16, label: "ViT-L" },
} as const;

function preset(size: keyof typeof SIZES, patchSize: 16 | 14): BackbonePreset<VitConfig> {
  const { label, ...dims } = SIZES[size];
  const name = `vit-${size}-patch${patchSize}`;
  if (patchSize === 16) {
    return {
      name,
      description: `${label}/16 (timm vit_${size}_patch16_224): ${dims.embedDim} features`,
      config: Object.freeze({ ...dims, imgSize: 224, patchSize, name }),
    };
  }
  return {
    name,
    description: `${label}/14 as DINOv2 (timm vit_${size}_patch14_dinov2, LayerScale, 518 px position grid): ${dims.embedDim} features`,
    config: Object.freeze({ ...dims, imgSize: 518, patchSize, initValues: 1e-5, name }),
    preprocessing: DINOV2_PREPROCESSING,
  };
}

/** The presets: ViT-Ti/S/B/L at patch 16 (timm, 224 px) and patch 14 (DINOv2 layout). */
export const VIT_PRESETS: readonly BackbonePreset<VitConfig>[] = Object.freeze(
  (["tiny", "small", "base", "large"] as const).flatMap((size) => [
    preset(size, 16),
    preset(size, 14),
  ]),
);

/**
 * Vision Transformer as timm's `VisionTransformer`, for the backbone registry. Keys: timm's, and
 * Hugging Face `ViTModel` / `Dinov2Model` / CLIP vision tower keys mapped onto them (their split
 * q/k/v go through `convertVitStateDict` first); the head is `head.*`; configuration inferred
 * from shapes (timm epsilon and activation; `inferVitConfig` takes the layout for others).
 */
export const vitSpec: BackboneSpec<VitConfig> = {
  type: "vit",
  presets: VIT_PRESETS,
  create: (config) => new Vit(config),
  weights: {
    normaliseKey: normaliseVitKey,
    toNative: vitTensorToNative,
    inferConfig: (shapes) => inferVitConfig(shapes),
    headPrefix: "head.",
    prepareStateDict: fuseSplitQkv,
  },
  preprocessing: VIT_PREPROCESSING,
  hub: vitHubSupport,
  prompts: {
    promptsOf: (config) => ({
      tokens: config.promptTokens ?? 0,
      deep: config.deepPrompts ?? false,
    }),
    withPrompts: (config, prompts, seed) => ({
      ...config,
      promptTokens: prompts.tokens,
      deepPrompts: prompts.tokens > 0 && prompts.deep,
      seed,
    }),
  },
};
