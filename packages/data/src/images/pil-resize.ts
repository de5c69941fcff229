// Pillow's ImagingResample (libImaging/Resample.c) for 8-bit images with the BICUBIC filter,
// reproduced operation for operation so that a crop resized here equals torchvision's
// `img.crop(box).resize(size, Image.BICUBIC)` byte for byte: double-precision coefficients
// normalized to sum 1, rounded to 22-bit fixed point, a horizontal pass into 8-bit rows, then a
// vertical pass, each rounding (+2^21) and clipping to 0–255.

/** 8-bit interleaved pixels (HWC) read by {@link pilResize}. */
export interface PilResizeSource {
  /** `height × width × channels` samples, row after row. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Samples per pixel; every channel is resampled alike (as Pillow does for L, RGB, RGBX). */
  channels: number;
}

/** The part of the source {@link pilResize} treats as the image, as Pillow's `Image.crop`. */
export interface PilResizeRegion {
  /** Left edge, in pixels. */
  left: number;
  /** Top edge, in pixels. */
  top: number;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

const precisionBits = 22;
const half = 1 << (precisionBits - 1);
const one = 1 << precisionBits;
const bicubicSupport = 2;

/** Pillow's bicubic kernel with a = -0.5 (Catmull-Rom), term for term as in Resample.c. */
function bicubic(value: number): number {
  const a = -0.5;
  const x = value < 0 ? -value : value;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** Per output pixel: the first input index, the tap count and `ksize` fixed-point weights. */
interface Coefficients {
  bounds: Int32Array;
  weights: Int32Array;
  ksize: number;
}

/** Resample.c's precompute_coeffs followed by normalize_coeffs_8bpc, for a box `[0, inSize)`. */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = bicubicSupport * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const taps = new Float64Array(ksize);
  const inverse = 1 / filterScale;
  for (let out = 0; out < outSize; out += 1) {
    const center = (out + 0.5) * scale;
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const count = Math.min(inSize, Math.trunc(center + support + 0.5)) - first;
    let sum = 0;
    for (let tap = 0; tap < count; tap += 1) {
      const weight = bicubic((tap + first - center + 0.5) * inverse);
      taps[tap] = weight;
      sum += weight;
    }
    for (let tap = 0; tap < count; tap += 1) {
      const weight = sum !== 0 ? taps[tap] / sum : taps[tap];
      weights[out * ksize + tap] =
        weight < 0 ? Math.trunc(-0.5 + weight * one) : Math.trunc(0.5 + weight * one);
    }
    bounds[out * 2] = first;
    bounds[out * 2 + 1] = count;
  }
  return { bounds, weights, ksize };
}

/** Pillow's clip8: the fixed-point sum shifted down to 8 bits and clamped to 0–255. */
function clip8(sum: number): number {
  const value = sum >> precisionBits;
  return value < 0 ? 0 : Math.min(value, 255);
}

/**
 * Resizes 8-bit pixels to `width × height` with Pillow's BICUBIC filter (antialiased when
 * shrinking: the kernel widens by the scale factor), giving exactly the bytes of Pillow's
 * `image.crop(region).resize((width, height), Image.BICUBIC)` for mode L or RGB images, and so
 * of torchvision's `RandomResizedCrop` and `Resize` on PIL images. Filter taps stop at the
 * region's edges, as after a crop. Returns `height × width × channels` samples.
 */
export function pilResize(
  source: PilResizeSource,
  width: number,
  height: number,
  region: PilResizeRegion = { left: 0, top: 0, width: source.width, height: source.height },
): Uint8Array {
  const { data, channels } = source;
  for (const [value, what] of [
    [width, "width"],
    [height, "height"],
    [region.width, "region width"],
    [region.height, "region height"],
    [channels, "channels"],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`pilResize: ${what} must be a positive integer, got ${value}`);
    }
  }
  if (
    !Number.isInteger(region.left) ||
    !Number.isInteger(region.top) ||
    region.left < 0 ||
    region.top < 0 ||
    region.left + region.width > source.width ||
    region.top + region.height > source.height
  ) {
    throw new RangeError(
      `pilResize: region ${JSON.stringify(region)} does not fit inside the ${source.width}x${source.height} image`,
    );
  }
  if (data.length !== source.width * source.height * channels) {
    throw new RangeError(
      `pilResize: ${data.length} samples, expected ${source.width}x${source.height}x${channels}`,
    );
  }
  const inWidth = region.width;
  const inHeight = region.height;
  const stride = source.width * channels;
  const base = region.top * stride + region.left * channels;
  if (width === inWidth && height === inHeight) {
    // Pillow returns a copy when nothing changes size.
    const copy = new Uint8Array(width * height * channels);
    for (let y = 0; y < height; y += 1) {
      const from = base + y * stride;
      copy.set(data.subarray(from, from + width * channels), y * width * channels);
    }
    return copy;
  }
  const vertical = coefficients(inHeight, height);
  // Rows of the region that the vertical pass reads (all of them unless it is skipped).
  const firstRow = vertical.bounds[0];
  const lastRow = vertical.bounds[height * 2 - 2] + vertical.bounds[height * 2 - 1];
  let rows: Uint8Array;
  let rowStride: number;
  let rowBase: number;
  if (width !== inWidth) {
    const rowCount = lastRow - firstRow;
    rows = horizontalPass(
      data,
      base + firstRow * stride,
      stride,
      inWidth,
      rowCount,
      channels,
      width,
    );
    rowStride = width * channels;
    rowBase = -firstRow * rowStride;
  } else {
    rows = data;
    rowStride = stride;
    rowBase = base;
  }
  if (height === inHeight) {
    // Only the horizontal pass was needed: its rows are the whole region.
    return rows;
  }
  return verticalPass(rows, rowBase, rowStride, width * channels, height, vertical);
}

/** ImagingResampleHorizontal_8bpc over `rowCount` rows starting at `start`. */
function horizontalPass(
  data: Uint8Array,
  start: number,
  stride: number,
  inWidth: number,
  rowCount: number,
  channels: number,
  outWidth: number,
): Uint8Array {
  const { bounds, weights, ksize } = coefficients(inWidth, outWidth);
  const output = new Uint8Array(rowCount * outWidth * channels);
  let to = 0;
  for (let row = 0; row < rowCount; row += 1) {
    const rowStart = start + row * stride;
    for (let out = 0; out < outWidth; out += 1) {
      const first = rowStart + bounds[out * 2] * channels;
      const count = bounds[out * 2 + 1];
      const kernel = out * ksize;
      for (let channel = 0; channel < channels; channel += 1) {
        let sum = half;
        for (let tap = 0, at = first + channel; tap < count; tap += 1, at += channels) {
          sum += data[at] * weights[kernel + tap];
        }
        output[to] = clip8(sum);
        to += 1;
      }
    }
  }
  return output;
}

/**
 * ImagingResampleVertical_8bpc: each output row is a weighted sum of whole input rows, summed
 * row by row into one accumulator (the same integer sums as Pillow's pixel-by-pixel order).
 */
function verticalPass(
  rows: Uint8Array,
  rowBase: number,
  rowStride: number,
  rowLength: number,
  outHeight: number,
  { bounds, weights, ksize }: Coefficients,
): Uint8Array {
  const output = new Uint8Array(outHeight * rowLength);
  const sums = new Int32Array(rowLength);
  for (let out = 0; out < outHeight; out += 1) {
    sums.fill(half);
    const first = bounds[out * 2];
    const count = bounds[out * 2 + 1];
    for (let tap = 0; tap < count; tap += 1) {
      const weight = weights[out * ksize + tap];
      const from = rowBase + (first + tap) * rowStride;
      for (let x = 0; x < rowLength; x += 1) sums[x] += rows[from + x] * weight;
    }
    const to = out * rowLength;
    for (let x = 0; x < rowLength; x += 1) output[to + x] = clip8(sums[x]);
  }
  return output;
}
