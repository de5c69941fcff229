import { createHash } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { createLoader, IMAGENET_MEAN, IMAGENET_STD } from "@medfm/data";
import * as tf from "@tensorflow/tfjs";
import type { Classifier } from "../classifier";
import { type FeaturePreprocessing, withModelPreprocessing } from "../predict/loader-normalisation";
import type { FeatureMatrix } from "./feature-matrix";

/** The default on-disk feature cache, relative to the working directory. */
export const DEFAULT_FEATURE_CACHE_DIR = ".medfm/cache/features";

// Defined beside the loader settings it is filled from (no Node module there, so the browser
// entry can take it); exported from here as before.
export type { FeaturePreprocessing };

/** Options of {@link extractFeatures}. */
export interface ExtractFeaturesOptions {
  /** The model whose backbone computes the features. */
  classifier: Classifier;
  /** Folder the image names are relative to. */
  dataRoot: string;
  /** Image names (relative to `dataRoot`), in the order of the returned rows. */
  names: readonly string[];
  /**
   * Preprocessing (size, resize, normalisation); without `resize`, `mean` or `std`, the
   * classifier's own (`classifier.preprocessing`, through `loaderResize` and
   * `loaderNormalisation`).
   */
  preprocessing: FeaturePreprocessing;
  /** Images per forward pass (default 16). */
  batchSize?: number;
  /** Cache folder, or `false` for no cache (default {@link DEFAULT_FEATURE_CACHE_DIR}). */
  cacheDir?: string | false;
  /** Fingerprint of the weights when already known (default: {@link weightsFingerprint}). */
  weightsHash?: string;
}

/** Features of a list of images and how the cache served them. */
export interface ExtractedFeatures {
  /** One row per name, in the order given. */
  features: FeatureMatrix;
  /** Names in row order. */
  names: string[];
  /** Rows read from the cache. */
  hits: number;
  /** Rows computed by the model (and written to the cache when one is used). */
  misses: number;
  /** Folder of this weights-and-preprocessing combination in the cache, when one is used. */
  cacheFolder?: string;
}

function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * A SHA-256 over the backbone's tensors (keys, shapes and values in state-dict order, running
 * statistics included): two backbones with the same fingerprint compute the same features.
 */
export function weightsFingerprint(classifier: Classifier): string {
  const hash = createHash("sha256");
  for (const [key, variable] of classifier.backbone.namedVariables()) {
    hash.update(`${key}:${variable.dtype}:${variable.shape.join("x")};`);
    const values = variable.dataSync();
    hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  hash.update(JSON.stringify(classifier.backbone.metadata()));
  return hash.digest("hex");
}

/** A stable description of the preprocessing, with defaults filled in (hashed into the key). */
export function preprocessingKey(preprocessing: FeaturePreprocessing): string {
  const [height, width] =
    typeof preprocessing.imageSize === "number"
      ? [preprocessing.imageSize, preprocessing.imageSize]
      : preprocessing.imageSize;
  const resize = preprocessing.resize ?? { mode: "exact" };
  const sortedResize = Object.fromEntries(
    Object.entries(resize).sort(([a], [b]) => a.localeCompare(b)),
  );
  return JSON.stringify({
    // Revision of @medfm/data's pixel pipeline: 2 since "cubic" resizes of 8-bit images are
    // Pillow's bicubic (pilResize); 3 since every kernel (the default "linear" included) is
    // Pillow's at 8 and 16 bits. Both change pixels, so features cached before miss.
    pixels: 3,
    height,
    width,
    resize: sortedResize,
    channels: preprocessing.channels ?? 3,
    mean: [...(preprocessing.mean ?? IMAGENET_MEAN)],
    std: [...(preprocessing.std ?? IMAGENET_STD)],
  });
}

/**
 * Pooled backbone features of images, computed once per (image file content, backbone weights,
 * preprocessing) and cached on disk as raw float32 files under
 * `cacheDir/<weights hash>/<preprocessing hash>/<content hash>.f32`. Renaming or moving an image
 * keeps its cache entry; editing it, changing the weights or the preprocessing misses.
 */
export async function extractFeatures(options: ExtractFeaturesOptions): Promise<ExtractedFeatures> {
  const { classifier, dataRoot, names } = options;
  // The model's resize and normalisation unless the caller names them; part of the cache key.
  const preprocessing = withModelPreprocessing(options.preprocessing, classifier.preprocessing);
  const batchSize = options.batchSize ?? 16;
  const columns = classifier.backbone.numFeatures;
  const data = new Float32Array(names.length * columns);
  const cacheDir = options.cacheDir === undefined ? DEFAULT_FEATURE_CACHE_DIR : options.cacheDir;
  let folder: string | undefined;
  const contentHashes: string[] = [];
  const missing: number[] = [];
  if (cacheDir !== false) {
    const weightsHash = options.weightsHash ?? weightsFingerprint(classifier);
    folder = join(
      cacheDir,
      weightsHash.slice(0, 32),
      sha256(preprocessingKey(preprocessing)).slice(0, 32),
    );
    await mkdir(folder, { recursive: true });
    for (let index = 0; index < names.length; index += 1) {
      const path = resolve(dataRoot, names[index]);
      let content: Uint8Array;
      try {
        content = await readFile(path);
      } catch (error) {
        throw new Error(`extractFeatures: cannot read ${path} (${(error as Error).message})`, {
          cause: error,
        });
      }
      const hash = sha256(content);
      contentHashes.push(hash);
      const cached = await readFile(join(folder, `${hash}.f32`)).catch(() => undefined);
      if (cached && cached.byteLength === columns * 4) {
        const values = new Float32Array(
          cached.buffer.slice(cached.byteOffset, cached.byteOffset + cached.byteLength),
        );
        data.set(values, index * columns);
      } else {
        // Absent, or written for another feature width (a truncated write): recompute.
        missing.push(index);
      }
    }
  } else {
    for (let index = 0; index < names.length; index += 1) missing.push(index);
  }
  if (missing.length > 0) {
    const loader = createLoader({
      samples: missing.map((index) => ({ name: names[index], labels: new Uint8Array(0) })),
      dataRoot,
      imageSize: preprocessing.imageSize,
      batchSize,
      resize: preprocessing.resize,
      channels: preprocessing.channels,
      mean: preprocessing.mean,
      std: preprocessing.std,
    });
    let position = 0;
    for await (const batch of loader.epoch(0)) {
      const values = tf.tidy(() =>
        classifier.features(tf.tensor4d(batch.images, batch.shape)).dataSync(),
      ) as Float32Array;
      for (let row = 0; row < batch.names.length; row += 1) {
        const index = missing[position + row];
        const vector = values.slice(row * columns, (row + 1) * columns);
        data.set(vector, index * columns);
        if (folder !== undefined) {
          const target = join(folder, `${contentHashes[index]}.f32`);
          const temporary = `${target}.${process.pid}.tmp`;
          await writeFile(temporary, new Uint8Array(vector.buffer));
          await rename(temporary, target);
        }
      }
      position += batch.names.length;
    }
  }
  return {
    features: { data, rows: names.length, columns },
    names: [...names],
    hits: names.length - missing.length,
    misses: missing.length,
    ...(folder !== undefined ? { cacheFolder: folder } : {}),
  };
}
