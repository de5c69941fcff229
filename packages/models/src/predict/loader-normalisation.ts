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

const kernelOf: Record<PreprocessingInterpolation, NonNullable<ResizeOptions["kernel"]>> = {
  bilinear: "linear",
  bicubic: "cubic",
  nearest: "nearest",
};

/**
 * The loader's evaluation resize for a model's preprocessing at `imageSize` px (default the
 * weights' `inputSize`), as timm's evaluation transform does it: with `crop < 1` the short side
 * goes to `floor(imageSize / crop)` with the weights' interpolation and the centre
 * `imageSize × imageSize` is kept, rounded as torchvision rounds (`Resize` + `CenterCrop`), so
 * the pixels equal timm's; with `crop` 1 the image is resized straight to the input size with
 * that interpolation. `undefined` for bilinear without a crop, the loader's default (Pillow
 * bilinear, `"exact"`), so DenseNet's ImageNet default and its feature-cache keys stay as they
 * were. A crop of 1 stretches as mmpretrain's `Resize` and MedFM's configs do (timm would still
 * centre-crop a non-square image), and a non-square `imageSize` is resized straight to it with
 * the weights' interpolation, without a crop.
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
  if (crop === 1 || height !== width) {
    return interpolation === "bilinear" ? undefined : { mode: "exact", kernel };
  }
  return {
    mode: "short-side-crop",
    convention: "torchvision",
    shortSide: Math.floor(height / crop),
    kernel,
  };
}
