import type { Random } from "../random";
import { type RandomResizedCropOptions, randomResizedCropBox } from "./random-resized-crop";
import type { CropBox } from "./resize-options";

/** Train-time augmentation; every random choice is drawn from the sample's own generator. */
export interface AugmentOptions {
  /** RandomResizedCrop to the output size (bicubic); `true` (default) uses the usual ranges. */
  randomResizedCrop?: boolean | RandomResizedCropOptions;
  /** Probability of a horizontal flip; default 0.5. */
  horizontalFlip?: number;
  /** Maximum rotation in degrees, sampled uniformly in ±rotation; default 0 (off). */
  rotation?: number;
  /** Brightness factor range 1 ± brightness (torchvision ColorJitter); default 0 (off). */
  brightness?: number;
  /** Contrast factor range 1 ± contrast (torchvision ColorJitter); default 0 (off). */
  contrast?: number;
}

/** The concrete augmentation one sample gets in one epoch. */
export interface AugmentationPlan {
  /** Crop in oriented source pixels, resized to the output size; absent: the whole image. */
  crop?: CropBox;
  /** Mirror left–right. */
  flip: boolean;
  /** Rotation in degrees (0: none). */
  rotation: number;
  /** Brightness factor (1: none). */
  brightness: number;
  /** Contrast factor (1: none). */
  contrast: number;
}

/**
 * Draws one sample's augmentation for an image of `width × height` from `random`, in a fixed
 * order (crop, flip, rotation, brightness, contrast) so a seed always gives the same plan.
 */
export function sampleAugmentation(
  width: number,
  height: number,
  random: Random,
  options: AugmentOptions = {},
): AugmentationPlan {
  const crop =
    options.randomResizedCrop === false
      ? undefined
      : randomResizedCropBox(
          width,
          height,
          random,
          options.randomResizedCrop === true ? {} : (options.randomResizedCrop ?? {}),
        );
  const flip = random.next() < (options.horizontalFlip ?? 0.5);
  const rotation = options.rotation ? random.uniform(-options.rotation, options.rotation) : 0;
  const brightness = options.brightness
    ? random.uniform(Math.max(0, 1 - options.brightness), 1 + options.brightness)
    : 1;
  const contrast = options.contrast
    ? random.uniform(Math.max(0, 1 - options.contrast), 1 + options.contrast)
    : 1;
  return { crop, flip, rotation, brightness, contrast };
}
