import { stat } from "node:fs/promises";
import type { TaskKind } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import type { Backbone } from "../backbones/backbone";
import type { BackbonePreprocessing, BackboneSpec } from "../backbones/backbone-spec";
import { headPrefixOf } from "../backbones/spec-of";
import { permuteValues } from "../backbones/torch-layout";
import { type Classifier, createClassifier } from "../classifier";
import type { Head } from "../heads/head";
import { linearHead } from "../heads/linear-head";
import { readSafetensors, type SafetensorsTensor } from "../weights/safetensors";
import { StateDictError } from "../weights/state-dict-error";
import type { DownloadHubFileOptions } from "./download-file";
import { detectHubArchitecture } from "./hub-architecture";
import { HubFormatError } from "./hub-errors";
import { readHubConfig } from "./hub-preprocessing";
import { resolvePretrainedReference } from "./pretrained-reference";
import { type HubSnapshot, pullSnapshot, resolveWeightFiles } from "./pull-snapshot";

/** Options of {@link fromPretrained}. */
export interface FromPretrainedOptions extends DownloadHubFileOptions {
  /**
   * What to put on the backbone. Unset: no head, a {@link PretrainedBackbone} comes back and
   * the checkpoint's head tensors are skipped (listed in the report). `"published"`: a linear
   * head sized and loaded from the checkpoint's head (`spec.weights.headPrefix`). A `Head`: that
   * head, freshly initialised, on the pretrained backbone (the fine-tuning case).
   */
  head?: "published" | Head;
  /** Task of the published head (default `"multi-class"`, as for ImageNet checkpoints). */
  task?: TaskKind;
  /** Class names of the published head. */
  classes?: readonly string[];
  /**
   * The architectures to try, in order (default every registered spec, `listBackbones()`).
   */
  // biome-ignore lint/suspicious/noExplicitAny: specs of every configuration type
  specs?: readonly BackboneSpec<any>[];
}

/** Where the checkpoint came from. */
export interface PretrainedSource {
  /** Repository id, or the local folder. */
  repo: string;
  /** Revision asked for (`local` for a folder). */
  revision: string;
  /** The commit the revision resolved to (undefined for a folder). */
  commit: string | undefined;
  /** The folder the files were read from (the cache's `snapshots/<commit>/`, or the folder). */
  snapshotDir: string;
  /** The safetensors files read, in order. */
  weightFiles: string[];
}

/** What {@link fromPretrained} did with the checkpoint's tensors; nothing is dropped unlisted. */
export interface PretrainedLoadReport {
  /** Native keys loaded into the model. */
  loaded: string[];
  /** File keys the spec renamed, with their native keys (`[file key, native key]`). */
  renamed: Array<[from: string, to: string]>;
  /** File keys the spec's `normaliseKey` drops on purpose (e.g. buffers rebuilt at creation). */
  dropped: string[];
  /** File keys of the checkpoint's head, skipped because no published head was asked for. */
  skippedHead: string[];
  /** Integer state absent from the file and left at 0, as torch's BatchNorm loader does. */
  defaulted: string[];
}

/**
 * The spec's default preprocessing at the input size a transformers `config.json` states
 * (`image_size`, or `vision_config.image_size` of a full CLIP config) when it states one: the
 * size the position embeddings were trained at, used when the repository has neither timm's
 * `pretrained_cfg` nor a `preprocessor_config.json`.
 */
function specPreprocessingAt(
  spec: Pick<BackboneSpec, "preprocessing">,
  config: Record<string, unknown>,
): BackbonePreprocessing {
  const vision = config.vision_config;
  const stated =
    config.image_size ??
    (typeof vision === "object" && vision !== null
      ? (vision as Record<string, unknown>).image_size
      : undefined);
  return typeof stated === "number" && Number.isInteger(stated) && stated > 0
    ? { ...spec.preprocessing, inputSize: stated }
    : spec.preprocessing;
}

/** A pretrained backbone, its configuration and the preprocessing its weights want. */
export interface PretrainedBackbone {
  /** The backbone with the checkpoint's weights. */
  backbone: Backbone;
  /** The architecture that read the checkpoint. */
  // biome-ignore lint/suspicious/noExplicitAny: the configuration type is the spec's own
  spec: BackboneSpec<any>;
  /** The configuration the backbone was built from (`spec.hub.configFromHub`). */
  config: object;
  /**
   * Mean, std, input size, resize and crop: from timm's `pretrained_cfg`, else transformers'
   * `preprocessor_config.json`, else the spec's default (at the `image_size` a transformers
   * `config.json` states, when it states one).
   */
  preprocessing: BackbonePreprocessing;
  /** Which of those the preprocessing came from. */
  preprocessingSource: "pretrained_cfg" | "preprocessor_config.json" | "spec";
  /** Where the checkpoint came from. */
  source: PretrainedSource;
  /** What happened to every tensor of the checkpoint. */
  report: PretrainedLoadReport;
}

/** A pretrained backbone with a head (see {@link FromPretrainedOptions.head}). */
export interface PretrainedClassifier extends PretrainedBackbone {
  /** The backbone and the head; disposing it disposes the backbone too. */
  classifier: Classifier;
}

/** A checkpoint's tensors by file key, each with the file it came from (for messages). */
async function readWeights(
  snapshot: HubSnapshot,
): Promise<{ files: string[]; tensors: Map<string, SafetensorsTensor> }> {
  const weights = await resolveWeightFiles(snapshot);
  const tensors = new Map<string, SafetensorsTensor>();
  const location = { repo: snapshot.repo, revision: snapshot.revision };
  for (const file of weights.files) {
    const parsed = await readSafetensors(file);
    for (const [key, tensor] of parsed.tensors) {
      if (tensors.has(key)) {
        throw new HubFormatError(location, `tensor ${key} is in two shards (again in ${file})`);
      }
      tensors.set(key, tensor);
    }
  }
  if (weights.weightMap !== undefined) {
    const absent = [...weights.weightMap]
      .filter(([key]) => !tensors.has(key))
      .map(([key, file]) => `${key} (in ${file})`);
    if (absent.length > 0) {
      throw new HubFormatError(
        { ...location, filename: "model.safetensors.index.json" },
        `weight_map names tensors its shards lack: ${absent.join(", ")}`,
      );
    }
  }
  return { files: weights.files, tensors };
}

/**
 * The checkpoint's tensors after the spec's `prepareStateDict` (tensors a layout splits or
 * merges, such as Hugging Face's separate q/k/v), or as they are when the spec has none.
 */
function prepareTensors(
  // biome-ignore lint/suspicious/noExplicitAny: any spec
  spec: BackboneSpec<any>,
  tensors: Map<string, SafetensorsTensor>,
  source: string,
): Map<string, SafetensorsTensor> {
  const prepare = spec.weights.prepareStateDict;
  if (prepare === undefined) return tensors;
  // Integer tensors (ids, counters) pass through untouched; the spec rewrites float ones only.
  const floats = new Map<string, { values: Float32Array; shape: readonly number[] }>();
  for (const [key, tensor] of tensors) {
    if (tensor.values instanceof Float32Array)
      floats.set(key, { values: tensor.values, shape: tensor.shape });
  }
  const result = new Map<string, SafetensorsTensor>();
  for (const [key, tensor] of tensors) {
    if (!(tensor.values instanceof Float32Array)) result.set(key, tensor);
  }
  for (const [key, tensor] of prepare.call(spec.weights, floats, source)) {
    result.set(key, {
      dtype: tensors.get(key)?.dtype ?? "F32",
      values: tensor.values,
      shape: [...tensor.shape],
    });
  }
  return result;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, index) => size === b[index]);
}

/** The checkpoint's tensors sorted into backbone and head, under native keys. */
function sortTensors(
  // biome-ignore lint/suspicious/noExplicitAny: any spec
  spec: BackboneSpec<any>,
  tensors: Map<string, SafetensorsTensor>,
  source: string,
) {
  const backbone = new Map<string, { fileKey: string; tensor: SafetensorsTensor }>();
  const head = new Map<string, { fileKey: string; tensor: SafetensorsTensor }>();
  const renamed: Array<[string, string]> = [];
  const dropped: string[] = [];
  const duplicates: string[] = [];
  const { headPrefix } = spec.weights;
  for (const [fileKey, tensor] of tensors) {
    const key = spec.weights.normaliseKey(fileKey);
    if (key === undefined) {
      dropped.push(fileKey);
      continue;
    }
    if (key !== fileKey) renamed.push([fileKey, key]);
    const target = headPrefix !== "" && key.startsWith(headPrefix) ? head : backbone;
    const local = target === head ? key.slice(headPrefix.length) : key;
    const earlier = target.get(local);
    if (earlier !== undefined) {
      duplicates.push(`${fileKey} (duplicates ${earlier.fileKey} as ${key})`);
      continue;
    }
    target.set(local, { fileKey, tensor });
  }
  if (duplicates.length > 0) {
    throw new StateDictError({ source, missing: [], unexpected: duplicates, mismatched: [] });
  }
  return { backbone, head, renamed, dropped };
}

/**
 * Loads native tensors into variables by key: every variable must be present, every tensor
 * must have a variable, shapes must agree; otherwise a StateDictError lists them all by name
 * (file keys shown beside renamed native keys).
 */
function assignState(
  variables: Map<string, tf.Variable>,
  counters: Map<string, number>,
  state: Map<string, { fileKey: string; values: Float32Array | Int32Array; shape: number[] }>,
  source: string,
): { loaded: string[]; defaulted: string[]; counters: Map<string, number> } {
  const describe = (key: string) => {
    const fileKey = state.get(key)?.fileKey;
    return fileKey === undefined || fileKey === key ? key : `${fileKey} (as ${key})`;
  };
  const missing = [...variables.keys()].filter((key) => !state.has(key));
  const unexpected = [...state.keys()]
    .filter((key) => !variables.has(key) && !counters.has(key))
    .map(describe);
  const mismatched: string[] = [];
  for (const [key, variable] of variables) {
    const entry = state.get(key);
    if (entry !== undefined && !sameShape(entry.shape, variable.shape)) {
      mismatched.push(
        `${describe(key)}: expected [${variable.shape.join(", ")}], got [${entry.shape.join(", ")}]`,
      );
    }
  }
  if (missing.length > 0 || unexpected.length > 0 || mismatched.length > 0) {
    throw new StateDictError({ source, missing, unexpected, mismatched });
  }
  const loaded: string[] = [];
  for (const [key, variable] of variables) {
    const { values, shape } = state.get(key) as {
      values: Float32Array | Int32Array;
      shape: number[];
    };
    tf.tidy(() => {
      const tensor = tf.tensor(values, shape, values instanceof Int32Array ? "int32" : "float32");
      variable.assign(tensor.dtype === variable.dtype ? tensor : tf.cast(tensor, variable.dtype));
    });
    loaded.push(key);
  }
  const newCounters = new Map<string, number>();
  const defaulted: string[] = [];
  for (const key of counters.keys()) {
    const entry = state.get(key);
    if (entry === undefined) defaulted.push(key);
    else loaded.push(key);
    newCounters.set(key, entry === undefined ? 0 : Number(entry.values[0]));
  }
  return { loaded, defaulted, counters: newCounters };
}

/** The snapshot of a local folder laid out as a hub repository (config.json, safetensors). */
async function folderSnapshot(path: string): Promise<HubSnapshot> {
  let isFolder = false;
  try {
    isFolder = (await stat(path)).isDirectory();
  } catch (error) {
    throw new Error(`fromPretrained: ${path} does not exist (${(error as Error).message})`);
  }
  if (!isFolder) {
    throw new Error(
      `fromPretrained: ${path} is a file; it reads a folder with config.json and model.safetensors (or a hub repository). For a bare torch .safetensors state dict use createClassifierFromTorch`,
    );
  }
  return { repo: path, revision: "local", commit: "", snapshotDir: path, files: new Map() };
}

/**
 * Builds a pretrained backbone from a Hugging Face hub repository (`org/name`,
 * `org/name@revision`, `hf:org/name`) or a local folder holding its files, the way
 * transformers' and timm's `from_pretrained` do: the snapshot is pulled into huggingface_hub's
 * cache (HF_ENDPOINT, HF_TOKEN, HF_HOME / HF_HUB_CACHE and HF_HUB_OFFLINE apply, see
 * {@link pullSnapshot}), `config.json` picks the registered architecture
 * ({@link detectHubArchitecture}) and its configuration, `model.safetensors` (or the shards of
 * its index) is mapped through the spec's `normaliseKey` and `toNative` and loaded strictly,
 * and the preprocessing comes from timm's `pretrained_cfg` or `preprocessor_config.json`.
 *
 * With `options.head` a classifier comes back too (see {@link FromPretrainedOptions.head}).
 * @throws UnsupportedArchitectureError when no registered spec reads the config; StateDictError
 *   listing missing, unexpected and mis-shaped tensors by name; the hub errors of pullSnapshot.
 */
export async function fromPretrained(
  reference: string,
  options: FromPretrainedOptions & { head: "published" | Head },
): Promise<PretrainedClassifier>;
export async function fromPretrained(
  reference: string,
  options?: FromPretrainedOptions & { head?: undefined },
): Promise<PretrainedBackbone>;
export async function fromPretrained(
  reference: string,
  options?: FromPretrainedOptions,
): Promise<PretrainedBackbone | PretrainedClassifier>;
export async function fromPretrained(
  reference: string,
  options: FromPretrainedOptions = {},
): Promise<PretrainedBackbone | PretrainedClassifier> {
  const { head: headOption, task, classes, specs, ...hubOptions } = options;
  const resolved = resolvePretrainedReference(reference);
  let snapshot: HubSnapshot;
  if (resolved.kind === "path") {
    snapshot = await folderSnapshot(resolved.path);
  } else {
    if (
      resolved.explicitRevision &&
      hubOptions.revision !== undefined &&
      hubOptions.revision !== resolved.revision
    ) {
      throw new Error(
        `fromPretrained: ${reference} names revision ${resolved.revision} but options.revision is ${hubOptions.revision}`,
      );
    }
    snapshot = await pullSnapshot(resolved.repo, {
      ...hubOptions,
      revision: resolved.explicitRevision ? resolved.revision : (hubOptions.revision ?? "main"),
    });
  }
  const location = { repo: snapshot.repo, revision: snapshot.revision };
  const hubConfig = await readHubConfig(snapshot);
  const { spec, config } = detectHubArchitecture(
    {
      repo: snapshot.repo,
      config: hubConfig.config,
      preprocessorConfig: hubConfig.preprocessorConfig,
    },
    location,
    specs,
  );
  const { files, tensors } = await readWeights(snapshot);
  const source = `${snapshot.repo}@${snapshot.revision} (${files.map((file) => file.split("/").pop()).join(", ")})`;
  const sorted = sortTensors(spec, prepareTensors(spec, tensors, source), source);

  const state = new Map<
    string,
    { fileKey: string; values: Float32Array | Int32Array; shape: number[] }
  >();
  const backbone = spec.create(config);
  let classifier: Classifier | undefined;
  try {
    const counters = backbone.nonTensorState?.() ?? new Map<string, number>();
    for (const [key, { fileKey, tensor }] of sorted.backbone) {
      if (counters.has(key)) {
        state.set(key, { fileKey, values: tensor.values, shape: tensor.shape });
        continue;
      }
      const values =
        tensor.values instanceof Float32Array ? tensor.values : Float32Array.from(tensor.values);
      const native = spec.weights.toNative(key, values, tensor.shape);
      state.set(key, { fileKey, values: native.values, shape: native.shape });
    }
    const variables = new Map(backbone.namedVariables());
    const preprocessing: BackbonePreprocessing =
      hubConfig.preprocessing ?? specPreprocessingAt(spec, hubConfig.config);
    let head: Head | undefined;
    if (headOption === "published") {
      head = publishedHead(spec, sorted.head, { task, classes, source, config: hubConfig.config });
      classifier = createClassifier({ backbone, head, preprocessing });
      for (const [key, variable] of head.namedVariables()) variables.set(key, variable);
      // The classifier keys its head under the architecture's prefix (`classifier.`, `head.` …).
      const headPrefix = headPrefixOf(backbone);
      for (const [name, { fileKey, tensor }] of sorted.head) {
        // Heads store linear weights [in, out]; torch stores [out, in].
        const isWeight = name === "weight";
        const values =
          tensor.values instanceof Float32Array ? tensor.values : Float32Array.from(tensor.values);
        state.set(`${headPrefix}${name}`, {
          fileKey,
          ...(isWeight
            ? permuteValues(values, tensor.shape, [1, 0])
            : { values, shape: tensor.shape }),
        });
      }
    } else if (headOption !== undefined) {
      classifier = createClassifier({ backbone, head: headOption, preprocessing });
    }
    const assigned = assignState(variables, counters, state, source);
    if (counters.size > 0) backbone.setNonTensorState?.(assigned.counters);
    const result: PretrainedBackbone = {
      backbone,
      spec,
      config,
      preprocessing,
      preprocessingSource: hubConfig.preprocessingSource ?? "spec",
      source: {
        repo: snapshot.repo,
        revision: snapshot.revision,
        commit: snapshot.commit === "" ? undefined : snapshot.commit,
        snapshotDir: snapshot.snapshotDir,
        weightFiles: files,
      },
      report: {
        loaded: assigned.loaded,
        renamed: sorted.renamed,
        dropped: sorted.dropped,
        skippedHead:
          headOption === "published" ? [] : [...sorted.head.values()].map(({ fileKey }) => fileKey),
        defaulted: assigned.defaulted,
      },
    };
    return classifier === undefined ? result : { ...result, classifier };
  } catch (error) {
    if (classifier !== undefined) classifier.dispose();
    else backbone.dispose();
    throw withInferredConfig(error, spec, config, sorted.backbone);
  }
}

/**
 * A StateDictError from a checkpoint whose `config.json` and tensors disagree, with what the
 * spec's `inferConfig` reads off the tensor shapes added, so the message says which side is off.
 */
function withInferredConfig(
  error: unknown,
  // biome-ignore lint/suspicious/noExplicitAny: any spec
  spec: BackboneSpec<any>,
  config: object,
  tensors: Map<string, { tensor: SafetensorsTensor }>,
): unknown {
  if (
    !StateDictError.isInstance(error) ||
    (error.missing.length === 0 && error.mismatched.length === 0)
  ) {
    return error;
  }
  let inferred: object;
  try {
    inferred = spec.weights.inferConfig(
      new Map([...tensors].map(([key, { tensor }]) => [key, tensor.shape])),
    );
  } catch {
    return error;
  }
  if (JSON.stringify(inferred) === JSON.stringify(config)) return error;
  const enriched = new StateDictError({
    source: `${error.source}; config.json gives ${spec.type} ${JSON.stringify(config)} but the tensor shapes describe ${JSON.stringify(inferred)}`,
    missing: error.missing,
    unexpected: error.unexpected,
    mismatched: error.mismatched,
  });
  enriched.cause = error;
  return enriched;
}

/** A linear head as wide as the checkpoint's (`{headPrefix}weight` `[classes, features]`, `bias`). */
function publishedHead(
  // biome-ignore lint/suspicious/noExplicitAny: any spec
  spec: BackboneSpec<any>,
  tensors: Map<string, { fileKey: string; tensor: SafetensorsTensor }>,
  options: {
    task?: TaskKind;
    classes?: readonly string[];
    source: string;
    config: Record<string, unknown>;
  },
): Head {
  const prefix = spec.weights.headPrefix;
  const weight = tensors.get("weight")?.tensor;
  if (weight === undefined || weight.shape.length !== 2) {
    throw new Error(
      `${options.source}: head "published" needs ${prefix}weight of shape [classes, features]; ${weight === undefined ? "the checkpoint has none (timm saves num_classes 0 without a head)" : `it is [${weight.shape.join(", ")}]`}`,
    );
  }
  const extra = [...tensors.keys()].filter((name) => name !== "weight" && name !== "bias");
  if (extra.length > 0) {
    throw new StateDictError({
      source: options.source,
      missing: [],
      unexpected: extra.map((name) => `${tensors.get(name)?.fileKey} (not part of a linear head)`),
      mismatched: [],
    });
  }
  const numClasses = weight.shape[0] as number;
  const declared = options.config.num_classes;
  if (typeof declared === "number" && declared !== numClasses) {
    throw new Error(
      `${options.source}: config.json says num_classes ${declared} but ${prefix}weight has ${numClasses} rows`,
    );
  }
  return linearHead({
    numClasses,
    kind: options.task ?? "multi-class",
    classes: options.classes ?? labelsOf(options.config, numClasses),
  });
}

/** transformers' `id2label` as class names in index order, when it names every class. */
function labelsOf(config: Record<string, unknown>, numClasses: number): string[] | undefined {
  const id2label = config.id2label;
  if (typeof id2label !== "object" || id2label === null) return undefined;
  const labels = Array.from(
    { length: numClasses },
    (_, index) => (id2label as Record<string, unknown>)[String(index)],
  );
  return labels.every((label) => typeof label === "string") ? (labels as string[]) : undefined;
}
