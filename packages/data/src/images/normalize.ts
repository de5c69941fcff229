/** mmpretrain's ImageNet channel means on the 0–255 scale (RGB). */
export const IMAGENET_MEAN: readonly [number, number, number] = [123.675, 116.28, 103.53];

/** mmpretrain's ImageNet channel standard deviations on the 0–255 scale (RGB). */
export const IMAGENET_STD: readonly [number, number, number] = [58.395, 57.12, 57.375];

/** Pixels in HWC order on the 0–255 scale (8-bit), or 0–65535 (16-bit, `maxValue` 65535). */
export interface PixelSource {
  /** Interleaved HWC samples. */
  data: Uint8Array | Uint16Array | Float32Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Channels in `data`: 1 (grayscale) or 3 (RGB). */
  channels: number;
  /** The value that maps to 255: 255 for 8-bit data, 65535 for 16-bit data. */
  maxValue: number;
}

/** How {@link normalizeInto} maps pixels to model input. */
export interface NormalizeOptions {
  /** Channel means on the 0–255 scale; defaults to {@link IMAGENET_MEAN}. */
  mean?: readonly number[];
  /** Channel standard deviations on the 0–255 scale; defaults to {@link IMAGENET_STD}. */
  std?: readonly number[];
  /** Output channels: 3 (grayscale is repeated) or 1 (RGB input must already be 1 channel). */
  channels?: 1 | 3;
  /** Multiplies every value (torchvision `adjust_brightness`), before contrast. Default 1. */
  brightness?: number;
  /**
   * Blends with the image's mean gray level (torchvision `adjust_contrast`): 1 keeps the image,
   * 0 gives a flat gray image. Default 1.
   */
  contrast?: number;
  /** Mirror left–right while writing (horizontal flip at no extra cost). */
  flip?: boolean;
}

/**
 * Writes `(value − mean) / std` for every pixel of `source` into `target` at `offset`, in HWC
 * order, repeating a grayscale channel when 3 channels are asked for. Values are first scaled to
 * 0–255 (16-bit data keeps its precision as fractional values), then brightness and contrast are
 * applied and clamped to 0–255 as torchvision does. Returns the number of floats written.
 */
export function normalizeInto(
  target: Float32Array,
  offset: number,
  source: PixelSource,
  options: NormalizeOptions = {},
): number {
  const outChannels = options.channels ?? 3;
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  if (mean.length < outChannels || std.length < outChannels) {
    throw new RangeError(
      `normalizeInto: mean and std need ${outChannels} values, got ${mean.length} and ${std.length}`,
    );
  }
  if (source.channels !== 1 && source.channels !== outChannels) {
    throw new RangeError(
      `normalizeInto: cannot map ${source.channels} source channels to ${outChannels}`,
    );
  }
  const pixels = source.width * source.height;
  const count = pixels * outChannels;
  if (offset + count > target.length) {
    throw new RangeError(
      `normalizeInto: target holds ${target.length} floats, need ${offset + count}`,
    );
  }
  const scale = 255 / source.maxValue;
  const brightness = options.brightness ?? 1;
  const contrast = options.contrast ?? 1;
  const adjust = brightness !== 1 || contrast !== 1;
  // Contrast blends with the mean gray level of the brightness-adjusted, clamped image, as
  // torchvision's adjust_contrast after adjust_brightness.
  const grayMean = contrast !== 1 ? grayLevelMean(source, scale * brightness) : 0;
  const data = source.data;
  const inverse = std.map((value) => 1 / value);
  const { width, height } = source;
  const flip = options.flip === true;
  const map = (raw: number, channel: number): number => {
    let value = raw * scale;
    if (adjust) {
      value = Math.min(255, value * brightness);
      if (contrast !== 1) {
        value = Math.min(255, Math.max(0, (value - grayMean) * contrast + grayMean));
      }
    }
    return (value - mean[channel]) * inverse[channel];
  };
  if (data instanceof Uint8Array) {
    // 8-bit input: every output is a function of (value, channel), so one 256-entry table per
    // channel replaces the arithmetic; this loop runs once per pixel of every batch.
    const table = new Float32Array(256 * outChannels);
    for (let channel = 0; channel < outChannels; channel += 1) {
      for (let value = 0; value < 256; value += 1)
        table[channel * 256 + value] = map(value, channel);
    }
    const sourceChannels = source.channels;
    if (sourceChannels === 1 && outChannels === 3) {
      grayToThreeChannels(data, target, offset, width, height, flip, table);
      return count;
    }
    for (let y = 0; y < height; y += 1) {
      const rowStart = y * width;
      let out = offset + rowStart * outChannels;
      for (let x = 0; x < width; x += 1) {
        const sourceIndex = (rowStart + (flip ? width - 1 - x : x)) * sourceChannels;
        for (let channel = 0; channel < outChannels; channel += 1) {
          const value = data[sourceChannels === 1 ? sourceIndex : sourceIndex + channel];
          target[out + channel] = table[channel * 256 + value];
        }
        out += outChannels;
      }
    }
    return count;
  }
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const out = offset + (y * width + x) * outChannels;
      const sourceIndex = (y * width + (flip ? width - 1 - x : x)) * source.channels;
      for (let channel = 0; channel < outChannels; channel += 1) {
        target[out + channel] = map(
          data[source.channels === 1 ? sourceIndex : sourceIndex + channel],
          channel,
        );
      }
    }
  }
  return count;
}

/** The hot path for 8-bit grayscale X-rays: one table lookup per output value. */
function grayToThreeChannels(
  data: Uint8Array,
  target: Float32Array,
  offset: number,
  width: number,
  height: number,
  flip: boolean,
  table: Float32Array,
): void {
  const red = table.subarray(0, 256);
  const green = table.subarray(256, 512);
  const blue = table.subarray(512, 768);
  const step = flip ? -1 : 1;
  for (let y = 0; y < height; y += 1) {
    const rowStart = y * width;
    let out = offset + rowStart * 3;
    let sourceIndex = flip ? rowStart + width - 1 : rowStart;
    for (let x = 0; x < width; x += 1) {
      const value = data[sourceIndex];
      target[out] = red[value];
      target[out + 1] = green[value];
      target[out + 2] = blue[value];
      out += 3;
      sourceIndex += step;
    }
  }
}

function grayLevelMean(source: PixelSource, factor: number): number {
  const { data, channels } = source;
  const pixels = source.width * source.height;
  const level = (value: number): number => Math.min(255, value * factor);
  let sum = 0;
  if (channels === 1) {
    for (let i = 0; i < pixels; i += 1) sum += level(data[i]);
  } else {
    // ITU-R 601-2 luma, as torchvision's rgb_to_grayscale.
    for (let i = 0; i < pixels; i += 1) {
      const base = i * channels;
      sum +=
        0.299 * level(data[base]) + 0.587 * level(data[base + 1]) + 0.114 * level(data[base + 2]);
    }
  }
  return pixels === 0 ? 0 : sum / pixels;
}
