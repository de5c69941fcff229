import * as tf from "@tensorflow/tfjs";
import type { SafetensorsInput, SafetensorsTensor } from "../../weights/safetensors";
import type { DenseNetConfig } from "./densenet";

/**
 * The legacy dense-layer key form (`denselayer1.norm.1.weight`) found in early torchvision
 * checkpoints and in timm's DenseNet weights; torchvision's and timm's loaders both rewrite it
 * with this pattern to `denselayer1.norm1.weight`.
 */
const LEGACY_LAYER_KEY =
  /^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$/;

/**
 * Maps a torch DenseNet state-dict key to torchvision's current form: drops a `module.` prefix
 * (DataParallel checkpoints) and rewrites legacy `norm.1` / `conv.2` layer keys (timm).
 */
export function normaliseTorchDenseNetKey(key: string): string {
  const unwrapped = key.startsWith("module.") ? key.slice("module.".length) : key;
  const legacy = LEGACY_LAYER_KEY.exec(unwrapped);
  return legacy ? `${legacy[1]}${legacy[2]}` : unwrapped;
}

/** Linear weights (`[out, in]` in torch) are stored `[in, out]` here; heads name them so. */
function isLinearWeight(key: string, rank: number): boolean {
  return rank === 2 && key.startsWith("classifier.") && key.endsWith(".weight");
}

/**
 * One torch tensor in this package's channels-last layout: convolutions OIHW → HWIO, linear
 * weights `[out, in]` → `[in, out]`; integer tensors (`num_batches_tracked`) as int32.
 */
export function torchTensorToNative(key: string, tensor: SafetensorsTensor): tf.Tensor {
  return tf.tidy(() => {
    const isFloat = tensor.values instanceof Float32Array;
    const value = tf.tensor(tensor.values, tensor.shape, isFloat ? "float32" : "int32");
    if (tensor.shape.length === 4) return tf.transpose(value, [2, 3, 1, 0]);
    if (isLinearWeight(key, tensor.shape.length)) return tf.transpose(value);
    return value;
  });
}

/** The inverse of {@link torchTensorToNative}, ready for `encodeSafetensors` (torch layout). */
export function nativeTensorToTorch(key: string, tensor: tf.Tensor): SafetensorsInput {
  const torchLayout = tf.tidy(() => {
    if (tensor.rank === 4) return tf.transpose(tensor, [3, 2, 0, 1]);
    if (isLinearWeight(key, tensor.rank)) return tf.transpose(tensor);
    return tf.clone(tensor);
  });
  const values = torchLayout.dataSync() as Float32Array | Int32Array;
  const shape = [...torchLayout.shape];
  torchLayout.dispose();
  if (tensor.dtype === "int32") {
    // torch stores num_batches_tracked as int64.
    return { dtype: key.endsWith(".num_batches_tracked") ? "I64" : "I32", shape, values };
  }
  return { dtype: "F32", shape, values: values as Float32Array };
}

/** A DenseNet configuration read off a torch state dict, with its classifier width. */
export interface InferredDenseNet {
  /** The backbone configuration (growth rate, blocks, initial features, bottleneck size). */
  config: DenseNetConfig;
  /** Outputs of `classifier.weight`, or undefined when the state has no classifier. */
  numClasses: number | undefined;
}

/**
 * Reads a DenseNet configuration from torch-layout shapes keyed as torchvision does (after
 * {@link normaliseTorchDenseNetKey}). Throws naming `source` (omitted when empty) and the key it
 * needed and did not find.
 */
export function inferDenseNetConfig(
  shapes: Map<string, readonly number[]>,
  source = "state dict",
): InferredDenseNet {
  const need = (key: string): readonly number[] => {
    const shape = shapes.get(key);
    if (shape === undefined) {
      throw new RangeError(
        `${source === "" ? "" : `${source}: `}not a torchvision DenseNet state dict, ${key} is missing`,
      );
    }
    return shape;
  };
  const numInitFeatures = need("features.conv0.weight")[0];
  const growthRate = need("features.denseblock1.denselayer1.conv2.weight")[0];
  const bnSize = need("features.denseblock1.denselayer1.conv1.weight")[0] / growthRate;
  const blockConfig: number[] = [];
  for (
    let block = 1;
    shapes.has(`features.denseblock${block}.denselayer1.conv1.weight`);
    block += 1
  ) {
    let layers = 0;
    while (shapes.has(`features.denseblock${block}.denselayer${layers + 1}.conv1.weight`))
      layers += 1;
    blockConfig.push(layers);
  }
  const classifier = shapes.get("classifier.weight");
  const known: Record<string, DenseNetConfig> = {
    "32/6,12,24,16/64/4": {
      growthRate: 32,
      blockConfig: [6, 12, 24, 16],
      numInitFeatures: 64,
      bnSize: 4,
      name: "densenet121",
    },
    "32/6,12,32,32/64/4": {
      growthRate: 32,
      blockConfig: [6, 12, 32, 32],
      numInitFeatures: 64,
      bnSize: 4,
      name: "densenet169",
    },
    "32/6,12,48,32/64/4": {
      growthRate: 32,
      blockConfig: [6, 12, 48, 32],
      numInitFeatures: 64,
      bnSize: 4,
      name: "densenet201",
    },
  };
  const config = known[`${growthRate}/${blockConfig.join(",")}/${numInitFeatures}/${bnSize}`] ?? {
    growthRate,
    blockConfig,
    numInitFeatures,
    bnSize,
  };
  return {
    config: { ...config, blockConfig: [...config.blockConfig] },
    numClasses: classifier?.[0],
  };
}
