import { writeFile } from "node:fs/promises";
import type { TaskKind } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import type { Backbone } from "../backbones/backbone";
import type { BackbonePreprocessing, BackboneSpec } from "../backbones/backbone-spec";
import { getBackboneSpec, listBackbones } from "../backbones/registry";
import { specOfBackbone } from "../backbones/spec-of";
import { HWIO_TO_OIHW, OIHW_TO_HWIO, permuteValues } from "../backbones/torch-layout";
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

// biome-ignore lint/suspicious/noExplicitAny: specs of every configuration type
type AnySpec = BackboneSpec<any>;

function isLinearHeadWeight(key: string, rank: number, headPrefix: string): boolean {
  return rank === 2 && key.startsWith(headPrefix) && key.endsWith(".weight");
}

/**
 * One torch tensor (under its native key) in this package's layout, through the spec's
 * `toNative`; integer tensors (`num_batches_tracked`) stay as they are, as int32. Without a
 * spec, convolutions go OIHW → HWIO and `classifier.….weight` matrices are transposed.
 */
export function torchTensorToNativeWith(
  spec: AnySpec | undefined,
  key: string,
  tensor: SafetensorsTensor,
): tf.Tensor {
  if (!(tensor.values instanceof Float32Array)) {
    return tf.tensor(Int32Array.from(tensor.values as ArrayLike<number>), tensor.shape, "int32");
  }
  const converted =
    spec?.weights.toNative(key, tensor.values, tensor.shape) ??
    (tensor.shape.length === 4
      ? permuteValues(tensor.values, tensor.shape, OIHW_TO_HWIO)
      : isLinearHeadWeight(key, tensor.shape.length, "classifier.")
        ? permuteValues(tensor.values, tensor.shape, [1, 0])
        : { values: tensor.values, shape: [...tensor.shape] });
  return tf.tensor(converted.values, converted.shape, "float32");
}

/**
 * The inverse of {@link torchTensorToNativeWith}, ready for `encodeSafetensors` (torch layout):
 * the spec's `fromNative`, else HWIO → OIHW and transposed head matrices.
 */
export function nativeTensorToTorchWith(
  spec: AnySpec | undefined,
  key: string,
  tensor: tf.Tensor,
): SafetensorsInput {
  if (tensor.dtype === "int32") {
    const values = tensor.dataSync() as Int32Array;
    // torch stores num_batches_tracked as int64.
    return {
      dtype: key.endsWith(".num_batches_tracked") ? "I64" : "I32",
      shape: [...tensor.shape],
      values: Int32Array.from(values),
    };
  }
  const values = Float32Array.from(tensor.dataSync() as Float32Array);
  const headPrefix = spec?.weights.headPrefix ?? "classifier.";
  const converted =
    spec?.weights.fromNative?.(key, values, tensor.shape) ??
    (tensor.rank === 4
      ? permuteValues(values, tensor.shape, HWIO_TO_OIHW)
      : isLinearHeadWeight(key, tensor.rank, headPrefix)
        ? permuteValues(values, tensor.shape, [1, 0])
        : { values, shape: [...tensor.shape] });
  return { dtype: "F32", shape: converted.shape, values: converted.values };
}

function tensorsOf(
  file: SafetensorsFile | Map<string, SafetensorsTensor>,
): Map<string, SafetensorsTensor> {
  return file instanceof Map ? file : file.tensors;
}

/**
 * Loads a torch state dict (torch layout, as parsed from safetensors) into a classifier through
 * its backbone's spec: keys normalised (`normaliseKey`), tensors converted (`toNative`: e.g.
 * convolutions OIHW → HWIO, linear weights transposed), integer state included.
 */
export function loadTorchStateDict(
  model: Classifier,
  file: SafetensorsFile | Map<string, SafetensorsTensor>,
  options: LoadTorchWeightsOptions = {},
): LoadTorchWeightsReport {
  const source = options.source ?? "state dict";
  const strict = options.strict ?? true;
  const spec = specOfBackbone(model.backbone);
  const headPrefix = model.headPrefix;
  const renamed: Array<[string, string]> = [];
  const skipped: string[] = [];
  const selected = new Map<string, [string, SafetensorsTensor]>();
  for (const [fileKey, tensor] of tensorsOf(file)) {
    const key = spec === undefined ? fileKey : spec.weights.normaliseKey(fileKey);
    if (key === undefined) {
      skipped.push(fileKey);
      continue;
    }
    if (key !== fileKey) renamed.push([fileKey, key]);
    if (options.backboneOnly && key.startsWith(headPrefix)) {
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
    for (const [key, [, tensor]] of selected)
      state.set(key, torchTensorToNativeWith(spec, key, tensor));
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
      const missing = [...expected].filter((key) => !key.startsWith(headPrefix) && !state.has(key));
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

/** Reads a torch `.safetensors` state dict of the model's architecture into a classifier. */
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
  /** The registered backbone type to read the file as (default: detected from the keys). */
  type?: string;
  /** The preprocessing the weights expect (default: the spec's or preset's). */
  preprocessing?: BackbonePreprocessing;
}

/** The architecture {@link detectTorchBackbone} read off a state dict. */
export interface DetectedTorchBackbone {
  /** The registered spec whose `inferConfig` accepted the keys. */
  spec: AnySpec;
  /** The configuration it inferred. */
  config: Record<string, unknown>;
  /** Tensor shapes (torch layout) under native keys. */
  shapes: Map<string, readonly number[]>;
  /** Outputs of the head's `weight` in the file (under the spec's `headPrefix`), if any. */
  numClasses: number | undefined;
}

/**
 * Reads which registered architecture a torch state dict holds (each spec's `inferConfig` in
 * registration order, or only `type`'s) and its configuration. Throws naming `source` and why
 * each spec refused the keys.
 */
export function detectTorchBackbone(
  file: SafetensorsFile | Map<string, SafetensorsTensor>,
  source = "state dict",
  type?: string,
): DetectedTorchBackbone {
  const tensors = tensorsOf(file);
  const candidates = type === undefined ? listBackbones() : [getBackboneSpec(type, source)];
  const failures: string[] = [];
  for (const spec of candidates) {
    const shapes = new Map<string, readonly number[]>();
    for (const [key, tensor] of tensors) {
      const native = spec.weights.normaliseKey(key);
      if (native !== undefined) shapes.set(native, tensor.shape);
    }
    try {
      const config = spec.weights.inferConfig(shapes);
      return {
        spec,
        config,
        shapes,
        numClasses: shapes.get(`${spec.weights.headPrefix}weight`)?.[0],
      };
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  throw new RangeError(`${source}: ${failures.join("; ") || "no backbone is registered"}`);
}

/**
 * Builds a classifier whose architecture and configuration are read off a torch state dict
 * (each registered spec's `inferConfig` is tried in registration order unless `options.type`
 * names one) and loads the weights strictly.
 */
export function createClassifierFromTorch(
  file: SafetensorsFile | Map<string, SafetensorsTensor>,
  options: CreateClassifierFromTorchOptions = {},
): Classifier {
  const source = options.source ?? "state dict";
  const { spec, config, numClasses } = detectTorchBackbone(file, source, options.type);
  const headPrefix = spec.weights.headPrefix;
  let head = options.head;
  if (head === undefined) {
    if (numClasses === undefined) {
      throw new RangeError(`${source}: no ${headPrefix}weight to size the head; pass options.head`);
    }
    head = linearHead({
      numClasses,
      kind: options.task ?? "multi-class",
      classes: options.classes,
    });
  }
  const backbone: Backbone = spec.create(
    options.memoryEfficient === undefined
      ? config
      : { ...config, memoryEfficient: options.memoryEfficient },
  );
  const model = createClassifier({ backbone, head, preprocessing: options.preprocessing });
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
 * int64 `num_batches_tracked`), under its published keys: what the torch model's
 * `load_state_dict` takes.
 */
export function exportTorchStateDict(model: Classifier): Map<string, SafetensorsInput> {
  const state = model.stateDict();
  try {
    const spec = specOfBackbone(model.backbone);
    return new Map(
      [...state].map(([key, tensor]) => [key, nativeTensorToTorchWith(spec, key, tensor)]),
    );
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
