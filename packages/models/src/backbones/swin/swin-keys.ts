import { HWIO_TO_OIHW, OIHW_TO_HWIO, permuteValues } from "../torch-layout";
import type { SwinConfig } from "./swin";

/** Thrown when a state dict does not describe a timm Swin Transformer; names the key at fault. */
export class SwinStateDictError extends RangeError {
  /** The key that was needed or malformed. */
  readonly key: string;

  constructor(source: string, key: string, problem: string) {
    super(`${source}: not a timm Swin Transformer state dict, ${key} ${problem}`);
    this.name = "SwinStateDictError";
    this.key = key;
  }
}

/** Buffers timm rebuilds itself and drops on load (`checkpoint_filter_fn`). */
const DROPPED_BUFFER = /(?:^|\.)(?:relative_position_index|attn_mask)$/;

/**
 * Maps a key of a timm Swin state dict to the backbone's key: drops a `module.` prefix
 * (DataParallel checkpoints) and returns `undefined` for the `relative_position_index` and
 * `attn_mask` buffers that older checkpoints carry and timm recomputes. Other keys, the head's
 * `head.fc.*` included, pass through.
 */
export function normaliseSwinKey(key: string): string | undefined {
  const unwrapped = key.startsWith("module.") ? key.slice("module.".length) : key;
  return DROPPED_BUFFER.test(unwrapped) ? undefined : unwrapped;
}

/**
 * Renames the keys of a checkpoint in the original Microsoft layout, where patch merging closes
 * a stage (`layers.0.downsample.*`) and the head is `head.*`, to timm's layout, where it opens
 * the next stage and the head is `head.fc.*`, as timm's `checkpoint_filter_fn` does. The layout
 * is told by `layers.0.downsample.reduction.weight`; a state dict in timm's layout is returned
 * as given.
 */
export function remapOriginalSwinKeys<T>(state: ReadonlyMap<string, T>): Map<string, T> {
  const keys = [...state.keys()].map((key) => normaliseSwinKey(key) ?? key);
  if (!keys.includes("layers.0.downsample.reduction.weight")) return new Map(state);
  const result = new Map<string, T>();
  for (const [key, value] of state) {
    const renamed = key
      .replace(
        /layers\.(\d+)\.downsample/,
        (_, index: string) => `layers.${Number(index) + 1}.downsample`,
      )
      .replace(/^((?:module\.)?)head\.(?!fc\.)/, "$1head.fc.");
    result.set(renamed, value);
  }
  return result;
}

/** Whether a key holds a linear weight, stored `[in, out]` here and `[out, in]` by torch. */
function isLinearWeight(key: string, rank: number): boolean {
  return rank === 2 && key.endsWith(".weight");
}

/**
 * A torch tensor in the backbone's layout: the patch embedding OIHW → HWIO, linear weights
 * (qkv, proj, fc1, fc2, reduction, the head's `head.fc.weight`) `[out, in]` → `[in, out]`;
 * LayerNorms, biases and the relative position bias tables unchanged.
 */
export function swinTensorToNative(
  key: string,
  values: Float32Array,
  shape: readonly number[],
): { values: Float32Array; shape: number[] } {
  if (shape.length === 4) return permuteValues(values, shape, OIHW_TO_HWIO);
  if (isLinearWeight(key, shape.length)) {
    return permuteValues(values, shape, [1, 0]);
  }
  return { values, shape: [...shape] };
}

/** The inverse of {@link swinTensorToNative}: the backbone's layout back to torch's. */
export function swinTensorToTorch(
  key: string,
  values: Float32Array,
  shape: readonly number[],
): { values: Float32Array; shape: number[] } {
  if (shape.length === 4) return permuteValues(values, shape, HWIO_TO_OIHW);
  if (isLinearWeight(key, shape.length)) {
    return permuteValues(values, shape, [1, 0]);
  }
  return { values, shape: [...shape] };
}

/**
 * Reads a Swin configuration off the torch-layout shapes of a timm state dict (keys as
 * {@link normaliseSwinKey} leaves them): embedding width and patch size from
 * `patch_embed.proj.weight`, stages and depths from `layers.i.blocks.j`, heads and window from
 * each stage's relative position bias table, head width from `qkv`, MLP ratio from `fc1`, qkv
 * bias from its presence. The input size is not in the weights: `imgSize` (default 224) says
 * which size the windows are laid out for. Throws {@link SwinStateDictError} naming the key.
 */
export function inferSwinConfig(
  shapes: ReadonlyMap<string, readonly number[]>,
  options: { imgSize?: number; source?: string } = {},
): SwinConfig {
  const source = options.source ?? "state dict";
  const need = (key: string, rank: number): readonly number[] => {
    const shape = shapes.get(key);
    if (shape === undefined) throw new SwinStateDictError(source, key, "is missing");
    if (shape.length !== rank) {
      throw new SwinStateDictError(
        source,
        key,
        `has shape [${shape.join(", ")}], expected rank ${rank}`,
      );
    }
    return shape;
  };
  const [embedDim, inChannels, patchSize, patchWidth] = need("patch_embed.proj.weight", 4);
  if (inChannels !== 3 || patchSize !== patchWidth) {
    throw new SwinStateDictError(
      source,
      "patch_embed.proj.weight",
      `has shape [${[embedDim, inChannels, patchSize, patchWidth].join(", ")}]; 3 input channels and square patches are supported`,
    );
  }
  const depths: number[] = [];
  const blockKey = /^layers\.(\d+)\.blocks\.(\d+)\./;
  for (const key of shapes.keys()) {
    const match = blockKey.exec(key);
    if (match === null) continue;
    const stage = Number(match[1]);
    depths[stage] = Math.max(depths[stage] ?? 0, Number(match[2]) + 1);
  }
  if (depths.length === 0)
    throw new SwinStateDictError(source, "layers.0.blocks.0.*", "is missing");
  const numHeads: number[] = [];
  const windowSize: number[] = [];
  let headDim: number | undefined;
  let sharedHeadDim = true;
  let mlpRatio: number | undefined;
  for (let stage = 0; stage < depths.length; stage += 1) {
    if (depths[stage] === undefined) {
      throw new SwinStateDictError(source, `layers.${stage}.blocks.0.*`, "is missing");
    }
    const prefix = `layers.${stage}.blocks.0`;
    const [tableRows, heads] = need(`${prefix}.attn.relative_position_bias_table`, 2);
    const side = (Math.sqrt(tableRows) + 1) / 2;
    if (!Number.isInteger(side)) {
      throw new SwinStateDictError(
        source,
        `${prefix}.attn.relative_position_bias_table`,
        `has ${tableRows} rows, not (2w − 1)² for a square window`,
      );
    }
    numHeads.push(heads);
    windowSize.push(side);
    const dim = embedDim * 2 ** stage;
    const [qkvOut, qkvIn] = need(`${prefix}.attn.qkv.weight`, 2);
    if (qkvIn !== dim || qkvOut % (3 * heads) !== 0) {
      throw new SwinStateDictError(
        source,
        `${prefix}.attn.qkv.weight`,
        `has shape [${qkvOut}, ${qkvIn}], expected [3·heads·headDim, ${dim}]`,
      );
    }
    const stageHeadDim = qkvOut / (3 * heads);
    if (stageHeadDim !== dim / heads) {
      if (headDim !== undefined && headDim !== stageHeadDim) sharedHeadDim = false;
      headDim = stageHeadDim;
    }
    const [hidden] = need(`${prefix}.mlp.fc1.weight`, 2);
    mlpRatio ??= hidden / dim;
  }
  if (!sharedHeadDim) {
    throw new SwinStateDictError(
      source,
      "layers.*.attn.qkv.weight",
      "has a different head_dim per stage",
    );
  }
  const qkvBias = shapes.has("layers.0.blocks.0.attn.qkv.bias");
  const windows = windowSize.every((side) => side === windowSize[0]) ? windowSize[0] : windowSize;
  return {
    embedDim,
    depths,
    numHeads,
    imgSize: options.imgSize ?? 224,
    patchSize,
    windowSize: windows,
    ...(headDim === undefined ? {} : { headDim }),
    mlpRatio: mlpRatio ?? 4,
    qkvBias,
  };
}
