import { createRandom, hashSeed } from "../random";
import { type AugmentationPlan, type AugmentOptions, sampleAugmentation } from "./augmentation";
import { normalizeInto } from "./normalize";
import { type RawImage, readPixels } from "./read-pixels";
import type { ResizeOptions } from "./resize-options";
import { rotatePixels } from "./rotate-pixels";

/**
 * How the loader turns one image into normalized floats; plain data, so it can be sent to a
 * worker thread.
 */
export interface SampleRecipe {
  /** Seed of augmentation (mixed with the epoch and the sample's index). */
  seed: number | string;
  /** Train augmentation; absent: `resize` only. */
  augment?: AugmentOptions;
  /** Resize used without a RandomResizedCrop. */
  resize: ResizeOptions;
  /** Resize of the RandomResizedCrop box (bicubic, output size). */
  cropResize: ResizeOptions;
  /** Channels per output pixel. */
  channels: 1 | 3;
  /** Channel means on the 0–255 scale. */
  mean: readonly number[];
  /** Channel standard deviations on the 0–255 scale. */
  std: readonly number[];
}

/**
 * Reads one image, draws its augmentation from the generator of (seed, epoch, sample), crops,
 * resizes, rotates, flips and normalizes it into `target` at `offset`. The result depends only
 * on the recipe, the image, the epoch and the sample index, whichever thread runs it.
 */
export async function loadSample(
  target: Float32Array,
  offset: number,
  source: string | Uint8Array | RawImage,
  name: string,
  recipe: SampleRecipe,
  sampleIndex: number,
  epoch: number,
  read: typeof readPixels = readPixels,
): Promise<void> {
  const { augment } = recipe;
  let plan: AugmentationPlan | undefined;
  const random = augment
    ? createRandom(hashSeed(recipe.seed, "augment", epoch, sampleIndex))
    : undefined;
  const useCrop = augment !== undefined && augment.randomResizedCrop !== false;
  const pixels = await read(source, {
    name,
    channels: recipe.channels,
    crop:
      augment && random
        ? (sourceWidth, sourceHeight) => {
            plan = sampleAugmentation(sourceWidth, sourceHeight, random, augment);
            return plan.crop ?? { left: 0, top: 0, width: sourceWidth, height: sourceHeight };
          }
        : undefined,
    resize: useCrop ? recipe.cropResize : recipe.resize,
  });
  const image = plan && plan.rotation !== 0 ? rotatePixels(pixels, plan.rotation) : pixels;
  normalizeInto(target, offset, image, {
    channels: recipe.channels,
    mean: recipe.mean,
    std: recipe.std,
    flip: plan?.flip,
    brightness: plan?.brightness,
    contrast: plan?.contrast,
  });
}
