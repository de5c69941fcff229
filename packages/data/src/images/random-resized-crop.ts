import type { Random } from "../random";
import type { CropBox } from "./resize-options";

/** The ranges RandomResizedCrop samples from; torchvision and mmpretrain defaults. */
export interface RandomResizedCropOptions {
  /** Range of the crop's area as a fraction of the image area; default `[0.08, 1]`. */
  scale?: readonly [number, number];
  /** Range of the crop's aspect ratio (width / height); default `[3/4, 4/3]`. */
  ratio?: readonly [number, number];
}

/**
 * Samples a RandomResizedCrop box exactly as torchvision's `RandomResizedCrop.get_params`:
 * ten tries at a random area and log-uniform aspect ratio, then a centered crop clamped to
 * the ratio range. The caller resizes the box to the output size.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  random: Random,
  options: RandomResizedCropOptions = {},
): CropBox {
  const [minScale, maxScale] = options.scale ?? [0.08, 1];
  const [minRatio, maxRatio] = options.ratio ?? [3 / 4, 4 / 3];
  if (!(minScale > 0 && minScale <= maxScale && maxScale <= 1)) {
    throw new RangeError(`randomResizedCropBox: scale must satisfy 0 < min <= max <= 1`);
  }
  if (!(minRatio > 0 && minRatio <= maxRatio)) {
    throw new RangeError(`randomResizedCropBox: ratio must satisfy 0 < min <= max`);
  }
  const area = width * height;
  const logMin = Math.log(minRatio);
  const logMax = Math.log(maxRatio);
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const targetArea = area * random.uniform(minScale, maxScale);
    const aspect = Math.exp(random.uniform(logMin, logMax));
    const cropWidth = Math.round(Math.sqrt(targetArea * aspect));
    const cropHeight = Math.round(Math.sqrt(targetArea / aspect));
    if (cropWidth > 0 && cropWidth <= width && cropHeight > 0 && cropHeight <= height) {
      return {
        top: random.int(height - cropHeight + 1),
        left: random.int(width - cropWidth + 1),
        width: cropWidth,
        height: cropHeight,
      };
    }
  }
  const inputRatio = width / height;
  let cropWidth = width;
  let cropHeight = height;
  if (inputRatio < minRatio) {
    cropHeight = Math.round(width / minRatio);
  } else if (inputRatio > maxRatio) {
    cropWidth = Math.round(height * maxRatio);
  }
  return {
    top: Math.floor((height - cropHeight) / 2),
    left: Math.floor((width - cropWidth) / 2),
    width: cropWidth,
    height: cropHeight,
  };
}
