import type { BackbonePreprocessing, BackboneSpec } from "../backbone-spec";
import { IMAGENET_PREPROCESSING } from "../backbone-spec";
import { Swin, type SwinConfig } from "./swin";
import { inferSwinConfig, normaliseSwinKey, swinTensorToNative } from "./swin-keys";

/** timm's Swin-T (`swin_tiny_patch4_window7_224`): 96 channels, depths 2-2-6-2, 768 features. */
export const SWIN_TINY_CONFIG: Readonly<SwinConfig> = Object.freeze({
  embedDim: 96,
  depths: Object.freeze([2, 2, 6, 2]),
  numHeads: Object.freeze([3, 6, 12, 24]),
  imgSize: 224,
  patchSize: 4,
  windowSize: 7,
  name: "swin-tiny-patch4-window7",
});

/** timm's Swin-S (`swin_small_patch4_window7_224`): 96 channels, depths 2-2-18-2, 768 features. */
export const SWIN_SMALL_CONFIG: Readonly<SwinConfig> = Object.freeze({
  embedDim: 96,
  depths: Object.freeze([2, 2, 18, 2]),
  numHeads: Object.freeze([3, 6, 12, 24]),
  imgSize: 224,
  patchSize: 4,
  windowSize: 7,
  name: "swin-small-patch4-window7",
});

/** timm's Swin-B (`swin_base_patch4_window7_224`): 128 channels, depths 2-2-18-2, 1024 features. */
export const SWIN_BASE_CONFIG: Readonly<SwinConfig> = Object.freeze({
  embedDim: 128,
  depths: Object.freeze([2, 2, 18, 2]),
  numHeads: Object.freeze([4, 8, 16, 32]),
  imgSize: 224,
  patchSize: 4,
  windowSize: 7,
  name: "swin-base-patch4-window7",
});

/**
 * The preprocessing of timm's Swin weights (`_cfg` in swin_transformer.py): ImageNet mean and
 * std, 224 px, bicubic, `crop_pct` 0.9.
 */
export const SWIN_PREPROCESSING: Readonly<BackbonePreprocessing> = Object.freeze({
  ...IMAGENET_PREPROCESSING,
  interpolation: "bicubic",
  crop: 0.9,
  cropMode: "center",
});

/**
 * Swin Transformer as timm defines it, for the backbone registry: presets Swin-T/S/B at patch 4,
 * window 7, 224 px; timm state-dict keys (`head.fc.*` is the head); configuration inferred from
 * a state dict's shapes (at 224 px).
 */
export const swinSpec: BackboneSpec<SwinConfig> = {
  type: "swin",
  presets: [
    {
      name: "swin-tiny-patch4-window7",
      description: "Swin-T (timm swin_tiny_patch4_window7_224): 28M parameters, 768 features",
      config: SWIN_TINY_CONFIG,
    },
    {
      name: "swin-small-patch4-window7",
      description: "Swin-S (timm swin_small_patch4_window7_224): 50M parameters, 768 features",
      config: SWIN_SMALL_CONFIG,
    },
    {
      name: "swin-base-patch4-window7",
      description:
        "Swin-B (timm swin_base_patch4_window7_224, MedFM's baseline): 88M parameters, 1024 features",
      config: SWIN_BASE_CONFIG,
    },
  ],
  create: (config) => new Swin(config),
  weights: {
    normaliseKey: normaliseSwinKey,
    toNative: swinTensorToNative,
    inferConfig: (shapes) => inferSwinConfig(shapes),
    headPrefix: "head.fc.",
  },
  preprocessing: SWIN_PREPROCESSING,
  prompts: {
    promptsOf: (config) => ({ tokens: config.promptTokens ?? 0, deep: false }),
    withPrompts: (config, prompts, seed) => {
      if (prompts.tokens > 0 && prompts.deep) {
        throw new RangeError(
          "swin: VPT-deep is not supported (Swin's prompts are MedFM's PromptedSwinTransformer's, prepended once); use deepPrompts: false",
        );
      }
      return { ...config, promptTokens: prompts.tokens, seed };
    },
  },
  hub: {
    accepts: ["timm swin_{tiny,small,base}_patch4_windowW_SIZE"],
    configFromHub: ({ config }) => {
      const architecture = config.architecture;
      if (typeof architecture !== "string" || !architecture.startsWith("swin_")) return undefined;
      const match = /^swin_(tiny|small|base)_patch4_window(\d+)_(\d+)(?:\.|$)/.exec(architecture);
      if (match === null) {
        throw new Error(
          `timm architecture ${architecture} is not supported (swin_{tiny,small,base}_patch4_windowW_SIZE are)`,
        );
      }
      const sizes = { tiny: SWIN_TINY_CONFIG, small: SWIN_SMALL_CONFIG, base: SWIN_BASE_CONFIG };
      return {
        ...sizes[match[1] as keyof typeof sizes],
        windowSize: Number(match[2]),
        imgSize: Number(match[3]),
        name: architecture,
      };
    },
  },
};
