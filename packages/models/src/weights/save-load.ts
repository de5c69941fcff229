import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { BackboneMetadata } from "../backbones/backbone";
import { type BackbonePreprocessing, IMAGENET_PREPROCESSING } from "../backbones/backbone-spec";
import { getBackboneSpec } from "../backbones/registry";
import { backboneFromMetadata } from "../backbones/spec-of";
import { type Classifier, createClassifier } from "../classifier";
import type { HeadMetadata } from "../heads/head";
import { headFromMetadata } from "../heads/head-from-metadata";

/** The `format` field of a saved classifier's `model.json`. */
export const CLASSIFIER_FORMAT = "medfm-classifier";
/** The layout version this package writes and reads. */
export const CLASSIFIER_FORMAT_VERSION = 1;
/** The weights file a saved classifier's manifest points at. */
const WEIGHTS_FILE = "weights.bin";

/**
 * A saved classifier's `model.json`: tfjs's model-artifact layout (`modelTopology`,
 * `weightsManifest` readable by `tf.io.decodeWeights`) with our backbone and head description
 * as the topology. Weight names are torchvision state-dict keys, channels-last.
 */
export interface ClassifierModelJson {
  /** Always `"medfm-classifier"`. */
  format: typeof CLASSIFIER_FORMAT;
  /** Layout version (1). */
  formatVersion: number;
  /** The writer, e.g. `"@medfm/models"`. */
  generatedBy: string;
  /** What the weights were converted from, e.g. `"torchvision: densenet121.safetensors"`. */
  convertedBy: string | null;
  /** How to rebuild the model. */
  modelTopology: { backbone: BackboneMetadata; head: HeadMetadata };
  /**
   * The preprocessing the weights expect (mean/std on the [0, 1] scale, input size …). Files
   * written before it was recorded lack it and load with ImageNet's.
   */
  preprocessing?: BackbonePreprocessing;
  /** Caller-supplied metadata, stored as given. */
  userDefinedMetadata: Record<string, unknown>;
  /** tfjs weight manifest: one group whose `paths` are relative to `model.json`. */
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
}

/** Options of {@link saveClassifier}. */
export interface SaveClassifierOptions {
  /** Recorded as `convertedBy` (the source of converted weights). */
  convertedBy?: string;
  /** Extra metadata stored in `userDefinedMetadata`. */
  metadata?: Record<string, unknown>;
}

/**
 * Saves a classifier to `directory` as `model.json` plus `weights.bin`: the backbone
 * configuration, the head's type, task, classes and options, and every tensor (running
 * statistics and batch counters included) under its torchvision key.
 * Returns the path of `model.json`.
 */
export async function saveClassifier(
  model: Classifier,
  directory: string,
  options: SaveClassifierOptions = {},
): Promise<string> {
  const state = model.stateDict();
  try {
    const { data, specs } = await tf.io.encodeWeights(Object.fromEntries(state));
    const modelJson: ClassifierModelJson = {
      format: CLASSIFIER_FORMAT,
      formatVersion: CLASSIFIER_FORMAT_VERSION,
      generatedBy: "@medfm/models",
      convertedBy: options.convertedBy ?? null,
      modelTopology: { backbone: model.backbone.metadata(), head: model.head.metadata() },
      preprocessing: {
        ...model.preprocessing,
        mean: [...model.preprocessing.mean],
        std: [...model.preprocessing.std],
      },
      userDefinedMetadata: options.metadata ?? {},
      weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
    };
    await mkdir(directory, { recursive: true });
    await writeFile(join(directory, WEIGHTS_FILE), new Uint8Array(data));
    const path = join(directory, "model.json");
    await writeFile(path, `${JSON.stringify(modelJson, null, 2)}\n`);
    return path;
  } finally {
    tf.dispose([...state.values()]);
  }
}

/** Options of {@link loadClassifier}. */
export interface LoadClassifierOptions {
  /** Build the backbone in memory-efficient mode (it is not part of the saved weights). */
  memoryEfficient?: boolean;
}

function fail(path: string, message: string): never {
  throw new Error(`${path}: ${message}`);
}

function parseModelJson(path: string, text: string): ClassifierModelJson {
  let json: Partial<ClassifierModelJson>;
  try {
    json = JSON.parse(text) as Partial<ClassifierModelJson>;
  } catch (error) {
    fail(path, `not valid JSON (${(error as Error).message})`);
  }
  if (json.format !== CLASSIFIER_FORMAT) {
    fail(path, `format is ${JSON.stringify(json.format)}, expected "${CLASSIFIER_FORMAT}"`);
  }
  if (json.formatVersion !== CLASSIFIER_FORMAT_VERSION) {
    fail(path, `formatVersion ${json.formatVersion} is not supported (this version reads 1)`);
  }
  if (!json.modelTopology?.backbone || !json.modelTopology.head) {
    fail(path, "modelTopology must have backbone and head");
  }
  if (!Array.isArray(json.weightsManifest) || json.weightsManifest.length === 0) {
    fail(path, "weightsManifest is missing or empty");
  }
  return json as ClassifierModelJson;
}

/**
 * Loads a classifier saved by {@link saveClassifier}: `path` is the directory or its
 * `model.json`. Every weight must be present (strict); errors name the file.
 */
export async function loadClassifier(
  path: string,
  options: LoadClassifierOptions = {},
): Promise<Classifier> {
  const modelJsonPath = path.endsWith(".json") ? path : join(path, "model.json");
  const modelJson = parseModelJson(modelJsonPath, await readFile(modelJsonPath, "utf8"));
  const { backbone: backboneMetadata, head: headMetadata } = modelJson.modelTopology;
  // Refuses an unregistered type naming the file and the registered types, before any read.
  getBackboneSpec(backboneMetadata.type, modelJsonPath);
  const buffers: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const group of modelJson.weightsManifest) {
    for (const file of group.paths) {
      buffers.push(new Uint8Array(await readFile(join(dirname(modelJsonPath), file))));
    }
    specs.push(...group.weights);
  }
  const total = buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const buffer of buffers) {
    joined.set(buffer, offset);
    offset += buffer.byteLength;
  }
  const expectedBytes = specs.reduce(
    (sum, spec) => sum + spec.shape.reduce((product, size) => product * size, 1) * 4,
    0,
  );
  if (expectedBytes !== total) {
    fail(modelJsonPath, `weights hold ${total} bytes but the manifest describes ${expectedBytes}`);
  }
  const named = tf.io.decodeWeights(joined.buffer, specs);
  const model = createClassifier({
    backbone: backboneFromMetadata(backboneMetadata, modelJsonPath, {
      memoryEfficient: options.memoryEfficient,
    }),
    head: headFromMetadata(headMetadata),
    preprocessing: modelJson.preprocessing ?? IMAGENET_PREPROCESSING,
  });
  try {
    model.loadStateDict(new Map(Object.entries(named)), { source: modelJsonPath });
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    tf.dispose(Object.values(named));
  }
  return model;
}
