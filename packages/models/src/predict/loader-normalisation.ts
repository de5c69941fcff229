import type { ResizeOptions } from "@medfm/data";
import {
  type BackbonePreprocessing,
  IMAGENET_PREPROCESSING,
  type PreprocessingInterpolation,
} from "../backbones/backbone-spec";

/** Channel means and standard deviations on the 0–255 scale, as `@medfm/data`'s loader takes them. */
export interface LoaderNormalisation {
  /** Channel means on the 0–255 scale. */
  mean: readonly number[];
  /** Channel standard deviations on the 0–255 scale. */
  std: readonly number[];
}

function isImageNet(preprocessing: BackbonePreprocessing): boolean {
  const same = (a: readonly number[], b: readonly number[]): boolean =>
    a.length === b.length && a.every((value, index) => value === b[index]);
  return (
    same(preprocessing.mean, IMAGENET_PREPROCESSING.mean) &&
    same(preprocessing.std, IMAGENET_PREPROCESSING.std)
  );
}

/**
 * The loader's `mean`/`std` for a model's preprocessing (scaled from [0, 1] to 0–255), or
 * `undefined` for ImageNet's, which is the loader's default (so its exact 0–255 constants and
 * the feature cache's keys stay as they were).
 */
export function loaderNormalisation(
  preprocessing: BackbonePreprocessing | undefined,
): LoaderNormalisation | undefined {
  if (preprocessing === undefined || isImageNet(preprocessing)) return undefined;
  return {
    mean: preprocessing.mean.map((value) => value * 255),
    std: preprocessing.std.map((value) => value * 255),
  };
}

/** The loader's resize, without the output size. */
export type LoaderResize = Omit<ResizeOptions, "width" | "height">;

/** How images become model input; part of every feature's cache key. */
export interface FeaturePreprocessing {
  /** Model input size: one number for square images, or `[height, width]`. */
  imageSize: number | readonly [number, number];
  /**
   * How images are resized. `extractFeatures`, `predictImages` and the evaluation loaders
   * default to the weights' interpolation and centre crop (`loaderResize`); `{ mode: "exact" }`
   * (Pillow bilinear) for weights that record neither, the loader's default.
   */
  resize?: LoaderResize;
  /** Channels fed to the model (default 3). */
  channels?: 1 | 3;
  /** Channel means on the 0–255 scale (default ImageNet's). */
  mean?: readonly number[];
  /** Channel standard deviations on the 0–255 scale (default ImageNet's). */
  std?: readonly number[];
}

const kernelOf: Record<PreprocessingInterpolation, NonNullable<ResizeOptions["kernel"]>> = {
  bilinear: "linear",
  bicubic: "cubic",
  nearest: "nearest",
};

/**
 * The loader's evaluation resize for a model's preprocessing at `imageSize` px (default the
 * weights' `inputSize`), as timm's evaluation transform (or, with `cropConvention`
 * `"transformers"`, the image processor) does it, so the pixels equal the reference's:
 * - `cropMode` `"center"`: the short side to `floor(imageSize / crop)` with the weights'
 *   interpolation and the centre `imageSize × imageSize` kept (`Resize` + `CenterCrop`; at
 *   `crop` 1 too, which keeps the aspect ratio and drops the long side's ends).
 * - `cropMode` `"squash"`: both sides stretched to `floor(imageSize / crop)`, then the centre
 *   crop; at `crop` 1 a plain stretch to the input size, as mmpretrain's `Resize` and MedFM's
 *   configs do.
 * - no `cropMode`: `"center"` below `crop` 1, `"squash"` at 1 (older `model.json` files).
 *
 * A non-square `imageSize` is stretched to with that interpolation whatever the mode (timm
 * would keep the ratio with its `ResizeKeepRatio`, which is not reproduced). `undefined` for a
 * bilinear stretch, the loader's default (Pillow bilinear, `"exact"`), so DenseNet's ImageNet
 * default and its feature-cache keys stay as they were.
 * @throws RangeError naming the value when the interpolation, crop, mode or convention is not
 * one this function knows (a hand-edited `model.json`).
 */
export function loaderResize(
  preprocessing: BackbonePreprocessing | undefined,
  imageSize: number | readonly [number, number] | undefined = preprocessing?.inputSize,
): LoaderResize | undefined {
  if (preprocessing === undefined || imageSize === undefined) return undefined;
  const { crop, interpolation } = preprocessing;
  const [height, width] = typeof imageSize === "number" ? [imageSize, imageSize] : imageSize;
  const kernel = kernelOf[interpolation];
  if (kernel === undefined) {
    throw new RangeError(`loaderResize: unknown interpolation ${JSON.stringify(interpolation)}`);
  }
  if (!(crop > 0 && crop <= 1)) {
    throw new RangeError(`loaderResize: crop must be in (0, 1], got ${crop}`);
  }
  const cropMode = preprocessing.cropMode ?? (crop < 1 ? "center" : "squash");
  if (cropMode !== "center" && cropMode !== "squash") {
    throw new RangeError(
      `loaderResize: cropMode must be "center" or "squash", got ${JSON.stringify(cropMode)}`,
    );
  }
  const convention = preprocessing.cropConvention ?? "torchvision";
  if (convention !== "torchvision" && convention !== "transformers") {
    throw new RangeError(
      `loaderResize: cropConvention must be "torchvision" or "transformers", got ${JSON.stringify(convention)}`,
    );
  }
  if (height !== width || (cropMode === "squash" && crop === 1)) {
    return interpolation === "bilinear" ? undefined : { mode: "exact", kernel };
  }
  return {
    mode: cropMode === "center" ? "short-side-crop" : "squash-crop",
    convention,
    shortSide: Math.floor(height / crop),
    kernel,
  };
}

/**
 * The loader settings a model's preprocessing implies at `imageSize` px: its normalisation
 * ({@link loaderNormalisation}) and resize ({@link loaderResize}), each present only where it
 * differs from the loader's defaults, to spread into `createLoader`'s options.
 */
export function loaderPreprocessing(
  preprocessing: BackbonePreprocessing | undefined,
  imageSize?: number | readonly [number, number],
): Partial<LoaderNormalisation> & { resize?: LoaderResize } {
  const resize = loaderResize(preprocessing, imageSize ?? preprocessing?.inputSize);
  return { ...loaderNormalisation(preprocessing), ...(resize ? { resize } : {}) };
}

/**
 * `preprocessing` with the model's own resize, mean and std ({@link loaderPreprocessing}) where
 * the caller left them out: what predict, the feature cache and few-shot adaptation load with.
 */
export function withModelPreprocessing(
  preprocessing: FeaturePreprocessing,
  model: BackbonePreprocessing | undefined,
): FeaturePreprocessing {
  const own = loaderPreprocessing(model, preprocessing.imageSize);
  return {
    ...preprocessing,
    resize: preprocessing.resize ?? own.resize,
    mean: preprocessing.mean ?? own.mean,
    std: preprocessing.std ?? own.std,
  };
}
