import { isAbsolute, join, normalize as normalizePath, sep } from "node:path";
import type { AugmentOptions } from "./images/augmentation";
import { createImageCache } from "./images/image-cache";
import { ImageError } from "./images/image-error";
import { checkImageFile, DEFAULT_MAX_PIXELS, readImageSize } from "./images/image-file-check";
import { loadSample, type SampleRecipe } from "./images/load-sample";
import { IMAGENET_MEAN, IMAGENET_STD } from "./images/normalize";
import { readPixels } from "./images/read-pixels";
import type { ResizeOptions } from "./images/resize-options";
import { assertPositiveInteger, inputDimensions } from "./images/resize-options";
import { createSampleWorkerPool, type SampleWorkerPool } from "./images/sample-worker-pool";
import { createRandom, hashSeed } from "./random";
import type { Batch, Sample } from "./types";

/** Options of {@link createLoader}. */
export interface LoaderOptions {
  /** Samples to load, usually parsed from an annotation file. All must have as many labels. */
  samples: readonly Sample[];
  /** Directory the sample names are relative to. Names may not leave it. */
  dataRoot: string;
  /** Output size: one number for square images, or `[height, width]`. */
  imageSize: number | readonly [number, number];
  /** Samples per batch. */
  batchSize: number;
  /** Shuffle the order each epoch (seeded by `seed` and the epoch); default false. */
  shuffle?: boolean;
  /** Seed of shuffling and augmentation; default 0. */
  seed?: number | string;
  /**
   * Train augmentation: `true` for RandomResizedCrop + horizontal flip, or options to tune it.
   * Without it images are resized by `resize`. Default false.
   */
  augment?: boolean | AugmentOptions;
  /**
   * How images are resized when not augmented (and when augmentation has no
   * RandomResizedCrop); default `{ mode: "exact" }`.
   */
  resize?: Omit<ResizeOptions, "width" | "height">;
  /** Channels per pixel in the batch: 3 (default; grayscale repeated) or 1. */
  channels?: 1 | 3;
  /** Channel means on the 0–255 scale; default mmpretrain's ImageNet mean. */
  mean?: readonly number[];
  /** Channel standard deviations on the 0–255 scale; default mmpretrain's ImageNet std. */
  std?: readonly number[];
  /**
   * Batches decoded ahead of the one the caller holds; default 2. At most `prefetch + 1`
   * batches are alive at once, which bounds memory.
   */
  prefetch?: number;
  /**
   * Images decoded at the same time (inflating runs on libuv's thread pool); default 4, or
   * 8 per worker thread (measured best on 2 cores: a worker's inflating waits on the pool).
   */
  concurrency?: number;
  /**
   * Worker threads that decode, augment and normalize images (each runs the whole per-image
   * pipeline, so the loader uses more than one core); default 0: everything on the calling
   * thread, with inflating on libuv's thread pool. Batches are the same either way. Ignored with
   * `cache` or a custom `readPixels`, and where the worker entry is not shipped (then the
   * calling thread decodes, with a process warning). With workers, `Batch.images` views a
   * `SharedArrayBuffer`.
   */
  workers?: number;
  /** Drop the last batch when it is smaller than `batchSize`; default false. */
  dropLast?: boolean;
  /**
   * What a corrupt or unreadable image does: `"error"` (default) rejects the epoch with an
   * `ImageError` naming the file; `"skip"` leaves it out of its batch and records it in
   * `loader.skipped`.
   */
  onCorrupt?: "error" | "skip";
  /**
   * Keep decoded copies of the images on disk, reduced so their short side is `shortSide`
   * (default: twice the larger output side), and read those instead of the originals from the
   * first use on. Augmentation and resizing then start from the cached copy.
   */
  cache?: { dir: string; shortSide?: number };
  /**
   * Replaces the decoder (custom formats, tests); receives the full path. Plain PNGs take
   * `readPixels`' fast path; wrap it with `fastPng: false` to decode everything with sharp.
   */
  readPixels?: typeof readPixels;
  /**
   * Largest image in pixels (width × height), read from the header before decoding; a larger
   * one fails with an `ImageError` naming the file and its size. The images being decoded at
   * once also hold at most this many pixels together (one image always may), so a few huge
   * images cannot exhaust memory. Default 8192 × 8192.
   */
  maxPixels?: number;
  /**
   * Follow symbolic links inside `dataRoot` that lead outside it; default false: such an image
   * fails with an `ImageError`, as does a directory in place of an image.
   */
  followSymlinks?: boolean;
}

/** An image left out of its batch because it could not be decoded (`onCorrupt: "skip"`). */
export interface SkippedImage {
  /** Sample name as in the annotation file. */
  name: string;
  /** Full path that was read. */
  path: string;
  /** Why it failed. */
  reason: string;
  /** Epoch in which it failed. */
  epoch: number;
}

/** Batches of one sample list; each epoch is a fresh async iteration. */
export interface Loader {
  /** Number of samples. */
  readonly size: number;
  /** Batches per epoch. */
  readonly length: number;
  /** Labels per sample (columns of `Batch.labels`). */
  readonly numClasses: number;
  /** `[height, width, channels]` of every image in a batch. */
  readonly imageShape: readonly [number, number, number];
  /** Images skipped so far (only with `onCorrupt: "skip"`), in the order they failed. */
  readonly skipped: readonly SkippedImage[];
  /**
   * The batches of epoch `index` (0-based). Order and augmentation depend only on the seed,
   * the epoch and the sample (its position in `samples`), never on timing or concurrency.
   * Breaking out of the loop stops decoding.
   */
  epoch(index: number): AsyncIterable<Batch>;
  /**
   * Stops the worker threads (with `workers`); idle threads already let the process exit. An
   * epoch started afterwards starts new threads.
   */
  close(): Promise<void>;
}

/**
 * Creates a batch loader: reads images in parallel (plain PNGs only as far as the crop reaches,
 * everything else with sharp), augments or resizes them, normalizes them into NHWC
 * `Float32Array` batches with float label rows, and keeps a bounded number of batches decoded
 * ahead.
 */
export function createLoader(options: LoaderOptions): Loader {
  const { samples, dataRoot } = options;
  const [height, width] = inputDimensions(options.imageSize);
  assertPositiveInteger(options.batchSize, "batchSize");
  const channels = options.channels ?? 3;
  const prefetch = options.prefetch ?? 2;
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new RangeError(`prefetch must be a non-negative integer, got ${prefetch}`);
  }
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  assertPositiveInteger(maxPixels, "maxPixels");
  const pixelBudget = createPixelBudget(maxPixels);
  const concurrency = options.concurrency ?? (options.workers ? 8 * options.workers : 4);
  assertPositiveInteger(concurrency, "concurrency");
  const seed = options.seed ?? 0;
  const augment: AugmentOptions | undefined =
    options.augment === true ? {} : options.augment === false ? undefined : options.augment;
  const onCorrupt = options.onCorrupt ?? "error";
  const read = options.readPixels ?? readPixels;
  const cache = options.cache
    ? createImageCache({
        dir: options.cache.dir,
        shortSide: options.cache.shortSide ?? 2 * Math.max(height, width),
        channels,
      })
    : undefined;
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  const numClasses = samples.length > 0 ? samples[0].labels.length : 0;
  const paths = samples.map((sample, index) => {
    if (sample.labels.length !== numClasses) {
      const where = sample.line !== undefined ? `, line ${sample.line}` : "";
      throw new RangeError(
        `sample ${index} (${sample.name}${where}) has ${sample.labels.length} labels, expected ${numClasses} like the first sample`,
      );
    }
    return resolveInside(dataRoot, sample.name);
  });
  const perImage = height * width * channels;
  const fullBatches = Math.floor(samples.length / options.batchSize);
  const length =
    options.dropLast || samples.length % options.batchSize === 0 ? fullBatches : fullBatches + 1;
  const skipped: SkippedImage[] = [];
  const evalResize: ResizeOptions = { mode: "exact", ...options.resize, width, height };
  const cropResize: ResizeOptions = { width, height, mode: "exact", kernel: "cubic" };

  const recipe: SampleRecipe = {
    seed,
    augment,
    resize: evalResize,
    cropResize,
    channels,
    mean: [...mean],
    std: [...std],
  };
  // Worker threads only run the built-in decoder on the original files.
  const workerCount = options.workers ?? 0;
  if (!Number.isInteger(workerCount) || workerCount < 0) {
    throw new RangeError(`workers must be a non-negative integer, got ${workerCount}`);
  }
  const useWorkers = workerCount > 0 && !cache && !options.readPixels;
  let pool: SampleWorkerPool | undefined;
  let poolStarted = false;

  async function loadInto(
    target: Float32Array,
    offset: number,
    sampleIndex: number,
    epoch: number,
  ): Promise<void> {
    const path = paths[sampleIndex];
    const refused = await checkImageFile(dataRoot, path, {
      followSymlinks: options.followSymlinks ?? false,
    });
    // A missing file is left to the decoder, whose error says what reading it found.
    if (refused && refused.problem !== "missing") throw new ImageError(path, refused.message);
    const size = await readImageSize(path);
    const pixels = size ? size.width * size.height : 0;
    if (size && pixels > maxPixels) {
      throw new ImageError(
        path,
        `${size.width}×${size.height} image (${pixels} pixels) exceeds maxPixels ${maxPixels}; refused before decoding (raise maxPixels to load it)`,
      );
    }
    const release = await pixelBudget(pixels);
    try {
      if (pool && target.buffer instanceof SharedArrayBuffer) {
        await pool.load(path, sampleIndex, epoch, target, offset);
        return;
      }
      const source = cache ? await cache.get(path) : path;
      await loadSample(target, offset, source, path, recipe, sampleIndex, epoch, read);
    } finally {
      release();
    }
  }

  function epoch(index: number): AsyncIterable<Batch> {
    if (!Number.isInteger(index) || index < 0) {
      throw new RangeError(`epoch index must be a non-negative integer, got ${index}`);
    }
    return {
      [Symbol.asyncIterator]: () => iterateEpoch(index),
    };
  }

  async function* iterateEpoch(epochIndex: number): AsyncGenerator<Batch> {
    const order = samples.map((_, index) => index);
    if (options.shuffle) createRandom(hashSeed(seed, "shuffle", epochIndex)).shuffle(order);
    const limiter = createLimiter(concurrency);
    const state = { cancelled: false };
    const started: Array<Promise<Batch | undefined>> = [];
    const startBatch = (batchIndex: number): void => {
      const indices = order.slice(
        batchIndex * options.batchSize,
        (batchIndex + 1) * options.batchSize,
      );
      const promise = buildBatch(indices, epochIndex, limiter, state);
      // The consumer may stop early; a failure it never awaits must not go unhandled.
      promise.catch(() => undefined);
      started.push(promise);
    };
    try {
      for (let batchIndex = 0; batchIndex < length; batchIndex += 1) {
        while (started.length < Math.min(length, batchIndex + prefetch + 1)) {
          startBatch(started.length);
        }
        const batch = await started[batchIndex];
        // Drop our reference so a consumed batch can be collected.
        started[batchIndex] = Promise.resolve(undefined);
        if (batch) yield batch;
      }
    } finally {
      state.cancelled = true;
    }
  }

  async function buildBatch(
    indices: number[],
    epochIndex: number,
    limiter: Limiter,
    state: { cancelled: boolean },
  ): Promise<Batch | undefined> {
    if (useWorkers && !poolStarted) {
      poolStarted = true;
      pool = createSampleWorkerPool(workerCount, recipe);
      if (pool === undefined) {
        // Say so rather than quietly running on one thread (e.g. a bundler left the entry out).
        process.emitWarning(
          `@medfm/data: workers: ${workerCount} asked for, but the worker entry (images/sample-worker.js beside the package's bundle) was not found; loading on the calling thread`,
          { code: "MEDFM_NO_WORKER_ENTRY" },
        );
      }
    }
    // Worker threads write straight into the batch, so it lives in shared memory.
    const images = new Float32Array(
      pool
        ? new SharedArrayBuffer(indices.length * perImage * 4)
        : new ArrayBuffer(indices.length * perImage * 4),
    );
    const failed = new Set<number>();
    await Promise.all(
      indices.map((sampleIndex, row) =>
        limiter(async () => {
          if (state.cancelled) return;
          try {
            await loadInto(images, row * perImage, sampleIndex, epochIndex);
          } catch (error) {
            if (onCorrupt === "skip" && ImageError.isInstance(error)) {
              failed.add(row);
              skipped.push({
                name: samples[sampleIndex].name,
                path: paths[sampleIndex],
                reason: error.message,
                epoch: epochIndex,
              });
              return;
            }
            throw error;
          }
        }),
      ),
    );
    if (state.cancelled) return undefined;
    const kept = indices.filter((_, row) => !failed.has(row));
    if (kept.length === 0) return undefined;
    const labels = new Float32Array(kept.length * numClasses);
    kept.forEach((sampleIndex, row) => {
      labels.set(samples[sampleIndex].labels, row * numClasses);
    });
    let batchImages = images;
    if (failed.size > 0) {
      batchImages = new Float32Array(kept.length * perImage);
      let row = 0;
      indices.forEach((_, oldRow) => {
        if (failed.has(oldRow)) return;
        batchImages.set(
          images.subarray(oldRow * perImage, (oldRow + 1) * perImage),
          row * perImage,
        );
        row += 1;
      });
    }
    return {
      images: batchImages,
      shape: [kept.length, height, width, channels],
      labels,
      names: kept.map((sampleIndex) => samples[sampleIndex].name),
    };
  }

  return {
    size: samples.length,
    length,
    numClasses,
    imageShape: [height, width, channels],
    skipped,
    epoch,
    async close() {
      const running = pool;
      pool = undefined;
      poolStarted = false;
      await running?.close();
    },
  };
}

type Limiter = <T>(task: () => Promise<T>) => Promise<T>;

/** Runs at most `limit` tasks at once, starting queued tasks in the order they were queued. */
function createLimiter(limit: number): Limiter {
  let active = 0;
  const queue: Array<() => void> = [];
  const release = (): void => {
    active -= 1;
    const next = queue.shift();
    if (next) next();
  };
  return <T>(task: () => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const run = (): void => {
        active += 1;
        task().then(resolve, reject).finally(release);
      };
      if (active < limit) run();
      else queue.push(run);
    });
}

/**
 * Admits decodes while the pixels of those running stay within `limit` (one decode is always
 * admitted), in the order they asked; resolves to the release of the pixels taken.
 */
function createPixelBudget(limit: number): (pixels: number) => Promise<() => void> {
  let used = 0;
  let running = 0;
  const queue: Array<{ pixels: number; admit: () => void }> = [];
  const fits = (pixels: number): boolean => running === 0 || used + pixels <= limit;
  const pump = (): void => {
    while (queue.length > 0 && fits(queue[0].pixels)) queue.shift()!.admit();
  };
  return (pixels) =>
    new Promise((resolve) => {
      const admit = (): void => {
        used += pixels;
        running += 1;
        resolve(() => {
          used -= pixels;
          running -= 1;
          pump();
        });
      };
      if (queue.length === 0 && fits(pixels)) admit();
      else queue.push({ pixels, admit });
    });
}

/** Joins `name` to `root`, refusing absolute names and names that climb out of the root. */
function resolveInside(root: string, name: string): string {
  const normalized = normalizePath(name);
  if (
    isAbsolute(name) ||
    normalized === ".." ||
    normalized.startsWith(`..${sep}`) ||
    normalized.split(/[\\/]/).includes("..")
  ) {
    throw new RangeError(`sample name "${name}" points outside the data root ${root}`);
  }
  return join(root, normalized);
}
