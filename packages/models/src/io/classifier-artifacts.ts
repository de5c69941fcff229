import * as tf from "@tensorflow/tfjs";
import { IMAGENET_PREPROCESSING } from "../backbones/backbone-spec";
import { listBackbones, UnknownBackboneError } from "../backbones/registry";
import { backboneFromMetadata } from "../backbones/spec-of";
import { type Classifier, createClassifier } from "../classifier";
import { headFromMetadata } from "../heads/head-from-metadata";
import type { ClassifierModelJson } from "../weights/save-load";

// The same values as CLASSIFIER_FORMAT and CLASSIFIER_FORMAT_VERSION of weights/save-load.ts,
// which cannot be imported from here: that module reads files with node:fs.
const FORMAT = "medfm-classifier";
const FORMAT_VERSION = 1;

/**
 * A saved classifier as an {@link ClassifierIOHandler} reads it: the parsed `model.json` and
 * the bytes of its weight files, joined in manifest order (tfjs's `ModelArtifacts` idea).
 */
export interface ClassifierArtifacts {
  /** The parsed, checked `model.json`. */
  modelJson: ClassifierModelJson;
  /** All weight files of the manifest, concatenated in order. */
  weightData: ArrayBuffer;
  /** Where it came from (a path, URL or file name), for error messages. */
  source: string;
}

/**
 * Where a saved classifier is read from, like tfjs's `tf.io.IOHandler`: a directory in Node
 * ({@link fileSystemClassifier}), URLs ({@link httpClassifier}) or `File` objects
 * ({@link browserFilesClassifier}) in a browser.
 */
export interface ClassifierIOHandler {
  /** Reads `model.json` and its weights. */
  load(): Promise<ClassifierArtifacts>;
}

/** Options of {@link classifierFromArtifacts} and {@link loadClassifierFrom}. */
export interface ClassifierFromArtifactsOptions {
  /** Build the backbone in memory-efficient mode (it is not part of the saved weights). */
  memoryEfficient?: boolean;
}

const marker = Symbol.for("medfm.models.ClassifierFileError");

/** An error in a saved classifier's files; the message starts with the file or URL at fault. */
export class ClassifierFileError extends Error {
  readonly [marker] = true;
  /** The file or URL at fault. */
  readonly source: string;

  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super(`${source}: ${message}`, options);
    this.name = "ClassifierFileError";
    this.source = source;
  }

  /** True for a `ClassifierFileError` from any copy of this package. */
  static isInstance(error: unknown): error is ClassifierFileError {
    return typeof error === "object" && error !== null && marker in error;
  }
}

/**
 * Parses and checks the text of a `model.json` written by `saveClassifier`; errors name
 * `source` and the field at fault.
 */
export function parseClassifierModelJson(source: string, text: string): ClassifierModelJson {
  let json: Partial<ClassifierModelJson>;
  try {
    json = JSON.parse(text) as Partial<ClassifierModelJson>;
  } catch (error) {
    throw new ClassifierFileError(source, `not valid JSON (${(error as Error).message})`, {
      cause: error,
    });
  }
  if (json === null || typeof json !== "object") {
    throw new ClassifierFileError(source, "not a JSON object");
  }
  if (json.format !== FORMAT) {
    throw new ClassifierFileError(
      source,
      `format is ${JSON.stringify(json.format)}, expected "${FORMAT}"`,
    );
  }
  if (json.formatVersion !== FORMAT_VERSION) {
    throw new ClassifierFileError(
      source,
      `formatVersion ${json.formatVersion} is not supported (this version reads ${FORMAT_VERSION})`,
    );
  }
  if (!json.modelTopology?.backbone || !json.modelTopology.head) {
    throw new ClassifierFileError(source, "modelTopology must have backbone and head");
  }
  const backboneType = json.modelTopology.backbone.type;
  if (!listBackbones().some((spec) => spec.type === backboneType)) {
    throw new ClassifierFileError(
      source,
      new UnknownBackboneError(
        backboneType,
        listBackbones().map((spec) => spec.type),
      ).message,
    );
  }
  if (!Array.isArray(json.weightsManifest) || json.weightsManifest.length === 0) {
    throw new ClassifierFileError(source, "weightsManifest is missing or empty");
  }
  return json as ClassifierModelJson;
}

/** The weight file paths of a manifest, in the order their bytes are joined. */
export function weightPaths(modelJson: ClassifierModelJson): string[] {
  return modelJson.weightsManifest.flatMap((group) => group.paths);
}

/** Concatenates weight files in manifest order. */
export function joinWeightFiles(buffers: readonly ArrayBuffer[]): ArrayBuffer {
  const total = buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0);
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const buffer of buffers) {
    joined.set(new Uint8Array(buffer), offset);
    offset += buffer.byteLength;
  }
  return joined.buffer;
}

/**
 * Builds the classifier that artifacts describe: the registered backbone and the head of the
 * topology, every weight loaded strictly. Errors name the artifacts' source.
 */
export function classifierFromArtifacts(
  artifacts: ClassifierArtifacts,
  options: ClassifierFromArtifactsOptions = {},
): Classifier {
  const { modelJson, weightData, source } = artifacts;
  const { backbone: backboneMetadata, head: headMetadata } = modelJson.modelTopology;
  const specs = modelJson.weightsManifest.flatMap((group) => group.weights);
  const expectedBytes = specs.reduce(
    (sum, spec) => sum + spec.shape.reduce((product, size) => product * size, 1) * 4,
    0,
  );
  if (expectedBytes !== weightData.byteLength) {
    throw new ClassifierFileError(
      source,
      `weights hold ${weightData.byteLength} bytes but the manifest describes ${expectedBytes}`,
    );
  }
  const named = tf.io.decodeWeights(weightData, specs);
  const model = createClassifier({
    backbone: backboneFromMetadata(backboneMetadata, source, {
      memoryEfficient: options.memoryEfficient,
    }),
    head: headFromMetadata(headMetadata),
    preprocessing: modelJson.preprocessing ?? IMAGENET_PREPROCESSING,
  });
  try {
    model.loadStateDict(new Map(Object.entries(named)), { source });
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    tf.dispose(Object.values(named));
  }
  return model;
}

/** Reads a saved classifier through `handler` and builds it ({@link classifierFromArtifacts}). */
export async function loadClassifierFrom(
  handler: ClassifierIOHandler,
  options: ClassifierFromArtifactsOptions = {},
): Promise<Classifier> {
  return classifierFromArtifacts(await handler.load(), options);
}
