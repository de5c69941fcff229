import type { BackboneHubSupport, HubModelConfig } from "../backbone-spec";
import type { VitConfig } from "./vit";
import { VIT_LAYOUT_DEFAULTS } from "./vit-keys";

/** timm's ViT widths (vit_{size}_patch…). */
const TIMM_SIZES: Record<string, { embedDim: number; depth: number; numHeads: number }> = {
  tiny: { embedDim: 192, depth: 12, numHeads: 3 },
  small: { embedDim: 384, depth: 12, numHeads: 6 },
  base: { embedDim: 768, depth: 12, numHeads: 12 },
  large: { embedDim: 1024, depth: 24, numHeads: 16 },
};

/** `vit_small_patch16_224`, `vit_base_patch14_dinov2`, `vit_large_patch14_reg4_dinov2` … */
const TIMM_NAME = /^vit_(tiny|small|base|large)_patch(\d+)_(?:(\d+)|(reg4_)?dinov2)(?:\.|$)/;

function numberField(config: Record<string, unknown>, key: string, fallback?: number): number {
  const value = config[key] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new Error(`${key} is ${JSON.stringify(config[key])}, a number is needed`);
  }
  return value;
}

/** timm's `model_args` (constructor arguments recorded in config.json) over the name's defaults. */
function timmModelArgs(args: Record<string, unknown>): Partial<VitConfig> {
  const config: Partial<VitConfig> = {};
  if (typeof args.img_size === "number") config.imgSize = args.img_size;
  if (typeof args.init_values === "number") config.initValues = args.init_values;
  if (typeof args.reg_tokens === "number") config.regTokens = args.reg_tokens;
  if (typeof args.no_embed_class === "boolean") config.noEmbedClass = args.no_embed_class;
  if (typeof args.class_token === "boolean") config.classToken = args.class_token;
  if (typeof args.pre_norm === "boolean") config.preNorm = args.pre_norm;
  if (typeof args.qkv_bias === "boolean") config.qkvBias = args.qkv_bias;
  if (args.global_pool === "token" || args.global_pool === "avg")
    config.globalPool = args.global_pool;
  if (typeof args.fc_norm === "boolean") config.fcNorm = args.fc_norm;
  return config;
}

/** A timm ViT by its `architecture` name and `model_args`, or undefined for other names. */
function fromTimm(config: Record<string, unknown>): VitConfig | undefined {
  const architecture = config.architecture;
  if (typeof architecture !== "string") return undefined;
  const match = TIMM_NAME.exec(architecture);
  if (match === null) {
    if (architecture.startsWith("vit_")) {
      throw new Error(
        `timm architecture ${architecture} is not supported (vit_{tiny,small,base,large}_patchN_SIZE and vit_*_patch14_[reg4_]dinov2 are)`,
      );
    }
    return undefined;
  }
  const [, size, patch, imgSize, registers] = match;
  const dinov2 = imgSize === undefined;
  const args =
    typeof config.model_args === "object" && config.model_args !== null
      ? (config.model_args as Record<string, unknown>)
      : {};
  return {
    ...TIMM_SIZES[size],
    patchSize: Number(patch),
    imgSize: dinov2 ? 518 : Number(imgSize),
    ...(dinov2 ? { initValues: 1e-5 } : {}),
    ...(registers ? { regTokens: 4, noEmbedClass: true } : {}),
    ...timmModelArgs(args),
    name: architecture,
  };
}

/** The part every transformers ViT config shares (`ViTConfig`, `Dinov2Config`, `CLIPVisionConfig`). */
function transformersCommon(
  config: Record<string, unknown>,
  defaults: { imageSize: number; patchSize: number; layerNormEps: number },
) {
  const embedDim = numberField(config, "hidden_size", 768);
  return {
    embedDim,
    depth: numberField(config, "num_hidden_layers", 12),
    numHeads: numberField(config, "num_attention_heads", 12),
    imgSize: numberField(config, "image_size", defaults.imageSize),
    patchSize: numberField(config, "patch_size", defaults.patchSize),
    layerNormEps: numberField(config, "layer_norm_eps", defaults.layerNormEps),
  };
}

/** A transformers ViT (`vit`, `dinov2`, `clip`, `clip_vision_model`), or undefined for others. */
function fromTransformers(config: Record<string, unknown>): VitConfig | undefined {
  const type = config.model_type;
  if (type === "vit") {
    const common = transformersCommon(config, {
      imageSize: 224,
      patchSize: 16,
      layerNormEps: 1e-12,
    });
    if ((config.hidden_act ?? "gelu") !== "gelu")
      throw new Error(`hidden_act ${JSON.stringify(config.hidden_act)} is not supported (gelu is)`);
    return {
      ...common,
      mlpRatio: numberField(config, "intermediate_size", 4 * common.embedDim) / common.embedDim,
      qkvBias: config.qkv_bias !== false,
      activation: "gelu",
      positionInterpolation: VIT_LAYOUT_DEFAULTS["hf-vit"].positionInterpolation,
      name: "vit",
    };
  }
  if (type === "dinov2") {
    if (config.use_swiglu_ffn === true)
      throw new Error("use_swiglu_ffn (DINOv2 giant's SwiGLU feed-forward) is not supported");
    if ((config.hidden_act ?? "gelu") !== "gelu")
      throw new Error(`hidden_act ${JSON.stringify(config.hidden_act)} is not supported (gelu is)`);
    return {
      ...transformersCommon(config, { imageSize: 224, patchSize: 14, layerNormEps: 1e-6 }),
      mlpRatio: numberField(config, "mlp_ratio", 4),
      qkvBias: config.qkv_bias !== false,
      initValues: numberField(config, "layerscale_value", 1),
      activation: "gelu",
      positionInterpolation: VIT_LAYOUT_DEFAULTS["hf-dinov2"].positionInterpolation,
      name: "dinov2",
    };
  }
  if (type === "clip" || type === "clip_vision_model") {
    const vision =
      type === "clip" ? (config.vision_config as Record<string, unknown> | undefined) : config;
    if (vision === undefined || typeof vision !== "object")
      throw new Error("model_type clip without a vision_config");
    const common = transformersCommon(vision, {
      imageSize: 224,
      patchSize: 32,
      layerNormEps: 1e-5,
    });
    const act = vision.hidden_act ?? "quick_gelu";
    if (act !== "gelu" && act !== "quick_gelu")
      throw new Error(`hidden_act ${JSON.stringify(act)} is not supported (gelu, quick_gelu are)`);
    return {
      ...common,
      mlpRatio: numberField(vision, "intermediate_size", 3072) / common.embedDim,
      qkvBias: true,
      preNorm: true,
      activation: act,
      positionInterpolation: VIT_LAYOUT_DEFAULTS["hf-clip"].positionInterpolation,
      name: "clip-vision",
    };
  }
  return undefined;
}

/**
 * The ViT checkpoints `fromPretrained` reads: timm's `vit_*` architectures (with their
 * `model_args`) and transformers' `vit`, `dinov2` (RAD-DINO, Phikon-v2, DINOv2) and CLIP vision
 * towers, each with its reference's defaults for what the config leaves out.
 */
export const vitHubSupport: BackboneHubSupport<VitConfig> = {
  accepts: [
    "timm vit_{tiny,small,base,large}_patchN_SIZE, vit_*_patch14_[reg4_]dinov2",
    "transformers vit, dinov2, clip, clip_vision_model",
  ],
  configFromHub: ({ config }: HubModelConfig) => fromTimm(config) ?? fromTransformers(config),
};
