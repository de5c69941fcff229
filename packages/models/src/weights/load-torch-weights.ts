import { writeFile } from "node:fs/promises";
import type { TaskKind } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import { densenet } from "../backbones/densenet/densenet";
import {
  inferDenseNetConfig,
  nativeTensorToTorch,
  normaliseTorchDenseNetKey,
  torchTensorToNative,
} from "../backbones/densenet/torchvision-densenet-keys";
import { type Classifier, createClassifier, type LoadStateDictReport } from "../classifier";
import type { Head } from "../heads/head";
import { linearHead } from "../heads/linear-head";
import {
  encodeSafetensors,
  readSafetensors,
  type SafetensorsFile,
  type SafetensorsInput,
  type SafetensorsTensor,
} from "./safetensors";
import { StateDictError } from "./state-dict-error";

/** Options of {@link loadTorchStateDict} and {@link loadTorchWeights}. */
export interface LoadTorchWeightsOptions {
  /**
   * Require every backbone key (and, unless `backboneOnly`, every head key) and no other key
   * (default true). Missing and unexpected keys are listed in the {@link StateDictError}.
   */
  strict?: boolean;
  /**
   * Load the backbone only and keep the model's own head: the file's `classifier.*` keys are
   * skipped, so weights trained for 1000 ImageNet classes fit a 19-class chest head.
   */
  backboneOnly?: boolean;
  /** Name of the source in errors (defaults to the path, or `"state dict"`). */
  source?: string;
}

/** What a torch state-dict load did. */
export interface LoadTorchWeightsReport extends LoadStateDictReport {
  /** File keys rewritten to torchvision's current names (legacy `norm.1`, `module.` prefix). */
  renamed: Array<[from: string, to: string]>;
  /** File keys skipped on purpose (the classifier with `backboneOnly`). */
  skipped: string[];
}

function tensorsOf(
  file: SafetensorsFile | Map<string, SafetensorsTensor>,
): Map<string, SafetensorsTensor> {
  return file instanceof Map ? file : file.tensors;
}

/**
 * Loads a torchvision or timm DenseNet state dict (torch layout, as parsed from safetensors)
 * into a classifier: keys normalised, convolutions OIHW → HWIO, linear weights transposed,
 * running statistics and `num_batches_tracked` included.
 */
export function loadTorchStateDict(
  model: Classifier,
  file: SafetensorsFile | Map<string, SafetensorsTensor>,
  options: LoadTorchWeightsOptions = {},
): LoadTorchWeightsReport {
  const source = options.source ?? "state dict";
  const strict = options.strict ?? true;
  const renamed: Array<[string, string]> = [];
  const skipped: string[] = [];
  const selected = new Map<string, [string, SafetensorsTensor]>();
  for (const [fileKey, tensor] of tensorsOf(file)) {
    const key = normaliseTorchDenseNetKey(fileKey);
    if (key !== fileKey) renamed.push([fileKey, key]);
    if (options.backboneOnly && key.startsWith("classifier.")) {
      skipped.push(fileKey);
      continue;
    }
    if (selected.has(key)) {
      throw new StateDictError({
        source,
        missing: [],
        unexpected: [`${fileKey} (duplicates ${selected.get(key)?.[0]} as ${key})`],
        mismatched: [],
      });
    }
    selected.set(key, [fileKey, tensor]);
  }
  const state = new Map<string, tf.Tensor>();
  try {
    for (const [key, [, tensor]] of selected) state.set(key, torchTensorToNative(key, tensor));
    // Checkpoints older than PyTorch 0.4.1 have no num_batches_tracked; torch's BatchNorm
    // loader fills 0 for them, and so do we.
    for (const key of model.backbone.nonTensorState?.().keys() ?? []) {
      if (!state.has(key)) state.set(key, tf.scalar(0, "int32"));
    }
    if (options.backboneOnly && strict) {
      // Strict on the backbone only: check here, then let the classifier skip the head.
      const expected = new Set(
        [...model.stateDict().entries()].map(([key, tensor]) => {
          tensor.dispose();
          return key;
        }),
      );
      const missing = [...expected].filter(
        (key) => !key.startsWith("classifier.") && !state.has(key),
      );
      const unexpected = [...state.keys()].filter((key) => !expected.has(key));
      if (missing.length > 0 || unexpected.length > 0) {
        throw new StateDictError({ source, missing, unexpected, mismatched: [] });
      }
    }
    const report = model.loadStateDict(state, {
      strict: strict && !options.backboneOnly,
      source,
    });
    return { ...report, renamed, skipped };
  } finally {
    tf.dispose([...state.values()]);
  }
}

/** Reads a torchvision or timm DenseNet `.safetensors` file into a classifier. */
export async function loadTorchWeights(
  model: Classifier,
  path: string,
  options: LoadTorchWeightsOptions = {},
): Promise<LoadTorchWeightsReport> {
  const file = await readSafetensors(path);
  return loadTorchStateDict(model, file, { source: path, ...options });
}

/** Options of {@link createClassifierFromTorch}. */
export interface CreateClassifierFromTorchOptions {
  /**
   * The head to use. Without it, a linear head as wide as the file's classifier is built and
   * loaded too; with it, only the backbone is loaded (the common fine-tuning case).
   */
  head?: Head;
  /** Task of the default linear head (default `"multi-class"`, as for ImageNet weights). */
  task?: TaskKind;
  /** Class names of the default linear head. */
  classes?: readonly string[];
  /** Build the backbone in memory-efficient mode. */
  memoryEfficient?: boolean;
  /** Name of the source in errors. */
  source?: string;
}

/**
 * Builds a DenseNet classifier whose configuration is read off a torch state dict (121, 169,
 * 201 or any other) and loads the weights strictly.
 */
export function createClassifierFromTorch(
  file: SafetensorsFile | Map<string, SafetensorsTensor>,
  options: CreateClassifierFromTorchOptions = {},
): Classifier {
  const source = options.source ?? "state dict";
  const shapes = new Map<string, number[]>();
  for (const [key, tensor] of tensorsOf(file))
    shapes.set(normaliseTorchDenseNetKey(key), tensor.shape);
  const { config, numClasses } = inferDenseNetConfig(shapes, source);
  let head = options.head;
  if (head === undefined) {
    if (numClasses === undefined) {
      throw new RangeError(`${source}: no classifier.weight to size the head; pass options.head`);
    }
    head = linearHead({
      numClasses,
      kind: options.task ?? "multi-class",
      classes: options.classes,
    });
  }
  const model = createClassifier({
    backbone: densenet({ ...config, memoryEfficient: options.memoryEfficient }),
    head,
  });
  try {
    loadTorchStateDict(model, file, { source, backboneOnly: options.head !== undefined });
  } catch (error) {
    model.dispose();
    throw error;
  }
  return model;
}

/**
 * The classifier's state dict in torch layout (OIHW convolutions, `[out, in]` linear weights,
 * int64 `num_batches_tracked`), keyed as torchvision's: what `DenseNet.load_state_dict` takes.
 */
export function exportTorchStateDict(model: Classifier): Map<string, SafetensorsInput> {
  const state = model.stateDict();
  try {
    return new Map([...state].map(([key, tensor]) => [key, nativeTensorToTorch(key, tensor)]));
  } finally {
    tf.dispose([...state.values()]);
  }
}

/**
 * Writes the classifier as a torchvision-layout `.safetensors` state dict, loadable in PyTorch
 * with `safetensors.torch.load_file` and `model.load_state_dict`.
 */
export async function saveTorchWeights(
  model: Classifier,
  path: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFile(path, encodeSafetensors(exportTorchStateDict(model), metadata));
}
