import { HWIO_TO_OIHW, OIHW_TO_HWIO, permuteValues } from "../torch-layout";
import type { TransformerActivation } from "../transformer/activations";
import type { PositionInterpolation } from "./resample-position-embedding";
import type { VitConfig } from "./vit";

/** Thrown when a state dict does not describe a ViT this backbone builds; names the key at fault. */
export class VitStateDictError extends RangeError {
  /** The key that was needed or malformed. */
  readonly key: string;

  constructor(source: string, key: string, problem: string) {
    super(`${source}: not a Vision Transformer state dict this backbone reads, ${key} ${problem}`);
    this.name = "VitStateDictError";
    this.key = key;
  }
}

/**
 * Where a checkpoint comes from: timm's `VisionTransformer`, or Hugging Face `transformers`'
 * `ViTModel`, `Dinov2Model` (facebook/dinov2-*, microsoft/rad-dino) or CLIP vision tower
 * (`CLIPVisionModel`). The layout decides what the weights cannot say: LayerNorm epsilon and
 * activation.
 */
export type VitCheckpointLayout = "timm" | "hf-vit" | "hf-dinov2" | "hf-clip";

/** LayerNorm epsilon, MLP activation and position resampling of each layout's reference implementation. */
export const VIT_LAYOUT_DEFAULTS: Readonly<
  Record<
    VitCheckpointLayout,
    {
      layerNormEps: number;
      activation: TransformerActivation;
      positionInterpolation: PositionInterpolation;
    }
  >
> = Object.freeze({
  timm: { layerNormEps: 1e-6, activation: "gelu", positionInterpolation: "bicubic-antialias" },
  "hf-vit": { layerNormEps: 1e-12, activation: "gelu", positionInterpolation: "bicubic" },
  "hf-dinov2": { layerNormEps: 1e-6, activation: "gelu", positionInterpolation: "bicubic" },
  "hf-clip": { layerNormEps: 1e-5, activation: "quick_gelu", positionInterpolation: "bicubic" },
});

/** Tensors that no ViT forward here reads: masks for masked-image modelling, poolers, ids. */
const DROPPED =
  /^(?:embeddings\.mask_token|embeddings\.position_ids|pooler\..*|visual_projection\..*|text_model\..*|text_projection\..*|logit_scale|mask_token)$/;

/** Model prefixes of Hugging Face checkpoints (`ViTForImageClassification` keeps `vit.` …). */
const HF_PREFIX = /^(?:module\.)?(?:vit\.|dinov2\.|vision_model\.|model\.)?/;

const BLOCK_RENAMES: ReadonlyArray<[RegExp, string]> = [
  // Hugging Face ViTModel.
  [/^encoder\.layer\.(\d+)\.layernorm_before\./, "blocks.$1.norm1."],
  [/^encoder\.layer\.(\d+)\.layernorm_after\./, "blocks.$1.norm2."],
  [/^encoder\.layer\.(\d+)\.attention\.output\.dense\./, "blocks.$1.attn.proj."],
  [/^encoder\.layer\.(\d+)\.intermediate\.dense\./, "blocks.$1.mlp.fc1."],
  [/^encoder\.layer\.(\d+)\.output\.dense\./, "blocks.$1.mlp.fc2."],
  [/^encoder\.layer\.(\d+)\.attention\.attention\.qkv\./, "blocks.$1.attn.qkv."],
  // transformers 5's in-memory names (its state_dict(); files on the hub keep the names above).
  [/^(?:encoder\.)?layers?\.(\d+)\.attention\.o_proj\./, "blocks.$1.attn.proj."],
  [/^(?:encoder\.)?layers?\.(\d+)\.attention\.qkv\./, "blocks.$1.attn.qkv."],
  [/^layers\.(\d+)\.layernorm_before\./, "blocks.$1.norm1."],
  [/^layers\.(\d+)\.layernorm_after\./, "blocks.$1.norm2."],
  [/^layers\.(\d+)\.mlp\.fc([12])\./, "blocks.$1.mlp.fc$2."],
  // Hugging Face Dinov2Model.
  [/^encoder\.layer\.(\d+)\.norm1\./, "blocks.$1.norm1."],
  [/^encoder\.layer\.(\d+)\.norm2\./, "blocks.$1.norm2."],
  [/^encoder\.layer\.(\d+)\.layer_scale1\.lambda1$/, "blocks.$1.ls1.gamma"],
  [/^encoder\.layer\.(\d+)\.layer_scale2\.lambda1$/, "blocks.$1.ls2.gamma"],
  [/^encoder\.layer\.(\d+)\.mlp\.fc([12])\./, "blocks.$1.mlp.fc$2."],
  // Hugging Face CLIP vision tower.
  [/^encoder\.layers\.(\d+)\.layer_norm1\./, "blocks.$1.norm1."],
  [/^encoder\.layers\.(\d+)\.layer_norm2\./, "blocks.$1.norm2."],
  [/^encoder\.layers\.(\d+)\.self_attn\.out_proj\./, "blocks.$1.attn.proj."],
  [/^encoder\.layers\.(\d+)\.self_attn\.qkv\./, "blocks.$1.attn.qkv."],
  [/^encoder\.layers\.(\d+)\.mlp\.fc([12])\./, "blocks.$1.mlp.fc$2."],
];

const WHOLE_RENAMES: ReadonlyMap<string, string> = new Map([
  ["embeddings.cls_token", "cls_token"],
  ["embeddings.register_tokens", "reg_token"],
  ["embeddings.position_embeddings", "pos_embed"],
  ["embeddings.patch_embeddings.projection.weight", "patch_embed.proj.weight"],
  ["embeddings.patch_embeddings.projection.bias", "patch_embed.proj.bias"],
  ["layernorm.weight", "norm.weight"],
  ["layernorm.bias", "norm.bias"],
  ["embeddings.class_embedding", "cls_token"],
  ["embeddings.patch_embedding.weight", "patch_embed.proj.weight"],
  ["embeddings.position_embedding.weight", "pos_embed"],
  ["pre_layrnorm.weight", "norm_pre.weight"],
  ["pre_layrnorm.bias", "norm_pre.bias"],
  ["post_layernorm.weight", "norm.weight"],
  ["post_layernorm.bias", "norm.bias"],
]);

/** Split query/key/value projections (Hugging Face) that {@link fuseSplitQkv} fuses first. */
const SPLIT_QKV =
  /^(.*\.(?:attention\.attention|self_attn|attention))\.(query|key|value|q_proj|k_proj|v_proj)\.(weight|bias)$/;

function isTimmKey(key: string): boolean {
  return /^(?:cls_token|reg_token|pos_embed|prompt_embeddings|deep_prompt_embeddings|patch_embed\.|norm_pre\.|blocks\.|norm\.|fc_norm\.|head\.)/.test(
    key,
  );
}

/**
 * The layout a state dict's keys are in: CLIP (`…pre_layrnorm…`, `…self_attn…`), DINOv2
 * (`…layer_scale1…`, `…encoder.layer.N.norm1…`), Hugging Face ViT (`…layernorm_before…`), else
 * timm.
 */
export function detectVitLayout(keys: Iterable<string>): VitCheckpointLayout {
  let layout: VitCheckpointLayout = "timm";
  for (const key of keys) {
    if (/pre_layrnorm|\.self_attn\.|class_embedding/.test(key)) return "hf-clip";
    if (/layer_scale1|encoder\.layer\.\d+\.norm1\./.test(key)) layout = "hf-dinov2";
    else if (/layernorm_before/.test(key) && layout === "timm") layout = "hf-vit";
  }
  return layout;
}

/**
 * Maps a key of a timm or Hugging Face (`ViTModel`, `Dinov2Model`, `CLIPVisionModel`, with their
 * `vit.`, `dinov2.`, `vision_model.` prefixes) ViT state dict to the backbone's timm key, or
 * `undefined` for tensors no forward reads (`mask_token`, `position_ids`, poolers, CLIP's text
 * tower and projections). Head keys (`head.*`, `classifier.*`) pass through. Hugging Face's
 * separate query/key/value projections have no key of their own here: {@link fuseSplitQkv}
 * (or {@link convertVitStateDict}) fuses them into `qkv` first, and passing one throws
 * {@link VitStateDictError}.
 */
export function normaliseVitKey(key: string): string | undefined {
  const unwrapped = key.startsWith("module.") ? key.slice("module.".length) : key;
  if (isTimmKey(unwrapped)) return unwrapped;
  if (unwrapped.startsWith("classifier.")) return unwrapped;
  const bare = unwrapped.replace(HF_PREFIX, "");
  if (DROPPED.test(bare)) return undefined;
  const whole = WHOLE_RENAMES.get(bare);
  if (whole !== undefined) return whole;
  if (SPLIT_QKV.test(bare)) {
    throw new VitStateDictError(
      "state dict",
      key,
      "is a separate query/key/value projection; fuse them with fuseSplitQkv (or convertVitStateDict) first",
    );
  }
  for (const [pattern, replacement] of BLOCK_RENAMES) {
    if (pattern.test(bare)) return bare.replace(pattern, replacement);
  }
  return unwrapped;
}

/** A torch tensor as read from a state dict: values row-major in torch layout, and its shape. */
export interface TorchTensor {
  /** Values, row-major. */
  values: Float32Array;
  /** Torch shape. */
  shape: readonly number[];
}

/**
 * Fuses Hugging Face's separate query, key and value projections (`…attention.attention.query`,
 * `…self_attn.q_proj`, …) into one `qkv` tensor per block (rows q, then k, then v, as timm's
 * `qkv`), named `….qkv.weight|bias` in the same layout so {@link normaliseVitKey} maps it.
 * Other tensors pass through. Throws {@link VitStateDictError} when one of the three is missing.
 */
export function fuseSplitQkv(
  state: ReadonlyMap<string, TorchTensor>,
  source = "state dict",
): Map<string, TorchTensor> {
  const result = new Map<string, TorchTensor>();
  const groups = new Map<string, Map<string, TorchTensor>>();
  for (const [key, tensor] of state) {
    const match = SPLIT_QKV.exec(key);
    if (match === null) {
      result.set(key, tensor);
      continue;
    }
    const [, prefix, part, kind] = match;
    const fused = `${prefix}.qkv.${kind}`;
    const group = groups.get(fused) ?? new Map<string, TorchTensor>();
    group.set(part[0], tensor);
    groups.set(fused, group);
    if (group.size === 1) result.set(fused, tensor); // keeps the state dict's order
  }
  for (const [fused, group] of groups) {
    const parts = ["q", "k", "v"].map((part) => {
      const tensor = group.get(part);
      if (tensor === undefined) {
        throw new VitStateDictError(source, fused, `lacks its ${part} projection`);
      }
      return tensor;
    });
    const size = parts.reduce((sum, part) => sum + part.values.length, 0);
    const values = new Float32Array(size);
    let offset = 0;
    for (const part of parts) {
      values.set(part.values, offset);
      offset += part.values.length;
    }
    const [rows, ...rest] = parts[0].shape;
    result.set(fused, { values, shape: [3 * rows, ...rest] });
  }
  return result;
}

/**
 * A published ViT state dict (timm or Hugging Face) under the backbone's timm keys, still in
 * torch layout: q/k/v fused ({@link fuseSplitQkv}), keys normalised ({@link normaliseVitKey}),
 * unread tensors dropped.
 */
export function convertVitStateDict(
  state: ReadonlyMap<string, TorchTensor>,
  source = "state dict",
): Map<string, TorchTensor> {
  const result = new Map<string, TorchTensor>();
  for (const [key, tensor] of fuseSplitQkv(state, source)) {
    const native = normaliseVitKey(key);
    if (native !== undefined) result.set(native, tensor);
  }
  return result;
}

/**
 * A torch tensor under its native key in the backbone's layout: the patch embedding OIHW → HWIO,
 * linear weights `[out, in]` → `[in, out]`; CLIP's `class_embedding` `[D]` → `[1, 1, D]` and
 * `position_embedding.weight` `[N, D]` → `[1, N, D]`; everything else unchanged.
 */
export function vitTensorToNative(
  key: string,
  values: Float32Array,
  shape: readonly number[],
): { values: Float32Array; shape: number[] } {
  if (key === "cls_token" && shape.length === 1) return { values, shape: [1, 1, shape[0]] };
  if ((key === "pos_embed" || key === "reg_token") && shape.length === 2) {
    return { values, shape: [1, shape[0], shape[1]] };
  }
  if (shape.length === 4) return permuteValues(values, shape, OIHW_TO_HWIO);
  if (shape.length === 2 && key.endsWith(".weight")) {
    return permuteValues(values, shape, [1, 0]);
  }
  return { values, shape: [...shape] };
}

/** The inverse of {@link vitTensorToNative} for the backbone's own tensors (timm layout). */
export function vitTensorToTorch(
  key: string,
  values: Float32Array,
  shape: readonly number[],
): { values: Float32Array; shape: number[] } {
  if (shape.length === 4) return permuteValues(values, shape, HWIO_TO_OIHW);
  if (shape.length === 2 && key.endsWith(".weight")) {
    return permuteValues(values, shape, [1, 0]);
  }
  return { values, shape: [...shape] };
}

/** Options of {@link inferVitConfig}: what a state dict's shapes cannot tell. */
export interface InferVitConfigOptions {
  /** Heads (not in the weights; default `embedDim / 64`, the head width of every timm, DINOv2 and CLIP ViT). */
  numHeads?: number;
  /** Layout the checkpoint was published in (epsilon, activation); default timm. */
  layout?: VitCheckpointLayout;
  /** Names the file in errors. */
  source?: string;
}

/**
 * Reads a ViT configuration off the torch-layout shapes of a state dict under native keys (as
 * {@link convertVitStateDict} leaves them): width and patch from `patch_embed.proj.weight`, depth
 * from `blocks.N`, MLP ratio from `fc1`, qkv bias, CLS and register tokens, `norm_pre`,
 * LayerScale and `fc_norm` (avg pooling) from their presence, the input size and timm's
 * `no_embed_class` from the length of `pos_embed`. Throws {@link VitStateDictError} naming the key.
 */
export function inferVitConfig(
  shapes: ReadonlyMap<string, readonly number[]>,
  options: InferVitConfigOptions = {},
): VitConfig {
  const source = options.source ?? "state dict";
  const need = (key: string): readonly number[] => {
    const shape = shapes.get(key);
    if (shape === undefined) throw new VitStateDictError(source, key, "is missing");
    return shape;
  };
  const patch = need("patch_embed.proj.weight");
  if (patch.length !== 4 || patch[1] !== 3 || patch[2] !== patch[3]) {
    throw new VitStateDictError(
      source,
      "patch_embed.proj.weight",
      `has shape [${patch.join(", ")}]; [embedDim, 3, patch, patch] is supported`,
    );
  }
  const [embedDim, , patchSize] = patch;
  let depth = 0;
  for (const key of shapes.keys()) {
    const match = /^blocks\.(\d+)\./.exec(key);
    if (match !== null) depth = Math.max(depth, Number(match[1]) + 1);
  }
  if (depth === 0) throw new VitStateDictError(source, "blocks.0.*", "is missing");
  const [hidden] = need("blocks.0.mlp.fc1.weight");
  const classToken = shapes.has("cls_token");
  const regShape = shapes.get("reg_token");
  const regTokens = regShape === undefined ? 0 : regShape[regShape.length - 2];
  const prefix = (classToken ? 1 : 0) + regTokens;
  const position = need("pos_embed");
  const positions = position.length === 3 ? position[1] : position[0];
  const withPrefix = Math.sqrt(positions - prefix);
  const withoutPrefix = Math.sqrt(positions);
  let noEmbedClass: boolean;
  let grid: number;
  if (Number.isInteger(withPrefix) && withPrefix > 0) {
    noEmbedClass = false;
    grid = withPrefix;
  } else if (Number.isInteger(withoutPrefix)) {
    noEmbedClass = true;
    grid = withoutPrefix;
  } else {
    throw new VitStateDictError(
      source,
      "pos_embed",
      `has ${positions} positions, neither a square grid nor a square grid plus ${prefix} prefix tokens`,
    );
  }
  const numHeads = options.numHeads ?? Math.max(1, Math.round(embedDim / 64));
  const layout = VIT_LAYOUT_DEFAULTS[options.layout ?? "timm"];
  const config: VitConfig = {
    embedDim,
    depth,
    numHeads,
    imgSize: grid * patchSize,
    patchSize,
    mlpRatio: hidden / embedDim,
    qkvBias: shapes.has("blocks.0.attn.qkv.bias"),
    classToken,
    regTokens,
    noEmbedClass,
    preNorm: shapes.has("norm_pre.weight"),
    globalPool: shapes.has("fc_norm.weight") ? "avg" : "token",
    layerNormEps: layout.layerNormEps,
    activation: layout.activation,
    positionInterpolation: layout.positionInterpolation,
  };
  if (shapes.has("blocks.0.ls1.gamma")) config.initValues = 1;
  const prompts = shapes.get("prompt_embeddings");
  if (prompts !== undefined) {
    config.promptTokens = prompts[prompts.length - 2];
    if (shapes.has("deep_prompt_embeddings")) config.deepPrompts = true;
  }
  return config;
}
