// Pillow's ImagingResample (libImaging/Resample.c) for 8-bit images, with every filter of
// `Image.resize`, reproduced operation for operation so that a crop resized here equals
// torchvision's `img.crop(box).resize(size, filter)` byte for byte: double-precision coefficients
// normalized to sum 1 (pil-filters.ts), rounded to 22-bit fixed point, a horizontal pass into 8-bit
// rows, then a vertical pass, each rounding (+2^21) and clipping to 0–255. NEAREST is Pillow's
// ImagingScaleAffine pixel pick instead. The loops run in WebAssembly (pil-resize-wasm.ts) where it
// is available, one channel at a time (the filter only changes the coefficients handed to it); the
// TypeScript loops below are the fallback and the plain statement of the algorithm.

import {
  type PilFilter,
  pilCoefficients,
  pilFixedPointWeights,
  pilNearestIndices,
  pilPrecisionBits,
} from "./pil-filters";
import { ensurePilResizeMemory, pilResizeWasm } from "./pil-resize-wasm";
import { assertResizeArguments, copyRows } from "./resize-options";

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

const half = 1 << (pilPrecisionBits - 1);
const wasmMemoryCap = 64 * 1024 * 1024;

/** Options of {@link pilResize}. */
export interface PilResizeOptions {
  /** Pillow's resampling filter; default `"bicubic"`. */
  filter?: PilFilter;
  /** Run the loops in WebAssembly when available (default true); the bytes are the same. */
  webAssembly?: boolean;
}

/** Per output pixel: the first input index, the tap count and `ksize` fixed-point weights. */
interface Coefficients {
  bounds: Int32Array;
  weights: Int32Array;
  ksize: number;
}

/** Resample.c's precompute_coeffs followed by normalize_coeffs_8bpc, for a box `[0, inSize)`. */
function coefficients(
  inSize: number,
  outSize: number,
  filter: Exclude<PilFilter, "nearest">,
): Coefficients {
  const { bounds, weights, ksize } = pilCoefficients(inSize, outSize, filter);
  return { bounds, weights: pilFixedPointWeights(weights), ksize };
}

/** Pillow's clip8: the fixed-point sum shifted down to 8 bits and clamped to 0–255. */
function clip8(sum: number): number {
  const value = sum >> pilPrecisionBits;
  return value < 0 ? 0 : Math.min(value, 255);
}

/**
 * Resizes 8-bit pixels to `width × height` with one of Pillow's filters (default BICUBIC;
 * antialiased when shrinking: the kernel widens by the scale factor), giving exactly the bytes
 * of Pillow's `image.crop(region).resize((width, height), filter)` for mode L or RGB images, and
 * so of torchvision's `RandomResizedCrop` and `Resize` on PIL images. Filter taps stop at the
 * region's edges, as after a crop. Returns `height × width × channels` samples.
 */
export function pilResize(
  source: PilResizeSource,
  width: number,
  height: number,
  region: PilResizeRegion = { left: 0, top: 0, width: source.width, height: source.height },
  options: PilResizeOptions = {},
): Uint8Array {
  const { data, channels } = source;
  assertResizeArguments("pilResize", source, width, height, region);
  const inWidth = region.width;
  const inHeight = region.height;
  const stride = source.width * channels;
  const base = region.top * stride + region.left * channels;
  if (width === inWidth && height === inHeight) {
    // Pillow returns a copy when nothing changes size.
    return copyRows(data, base, stride, width * channels, height);
  }
  const filter = options.filter ?? "bicubic";
  if (filter === "nearest") {
    return pilNearest(data, base, stride, channels, inWidth, inHeight, width, height);
  }
  // Wasm memory never shrinks: regions that would need more than 64 MiB of it (over ~60
  // megapixels) take the TypeScript loops.
  const fitsWasm =
    (inWidth + width) * inHeight + width * height + (width + height) * 64 < wasmMemoryCap;
  const wasm = options.webAssembly === false || !fitsWasm ? undefined : pilResizeWasm();
  if (wasm) {
    if (channels === 1)
      return resizeInWasm(data, base, stride, inWidth, inHeight, width, height, filter);
    // One channel at a time: Pillow resamples the channels independently.
    const output = new Uint8Array(width * height * channels);
    const plane = new Uint8Array(inWidth * inHeight);
    for (let channel = 0; channel < channels; channel += 1) {
      for (let y = 0, to = 0; y < inHeight; y += 1) {
        for (let x = 0, from = base + y * stride + channel; x < inWidth; x += 1, from += channels) {
          plane[to++] = data[from];
        }
      }
      const resized = resizeInWasm(plane, 0, inWidth, inWidth, inHeight, width, height, filter);
      for (let index = 0, to = channel; index < resized.length; index += 1, to += channels) {
        output[to] = resized[index];
      }
    }
    return output;
  }
  const vertical = coefficients(inHeight, height, filter);
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
      filter,
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

/**
 * Pillow's NEAREST resize of the region at `base`: each output pixel copies the source pixel
 * {@link pilNearestIndices} names, on both axes.
 */
function pilNearest(
  data: Uint8Array,
  base: number,
  stride: number,
  channels: number,
  inWidth: number,
  inHeight: number,
  width: number,
  height: number,
): Uint8Array {
  const columns = pilNearestIndices(inWidth, width);
  const rows = pilNearestIndices(inHeight, height);
  const output = new Uint8Array(width * height * channels);
  let to = 0;
  for (let y = 0; y < height; y += 1) {
    const rowStart = base + rows[y] * stride;
    for (let x = 0; x < width; x += 1) {
      const from = rowStart + columns[x] * channels;
      for (let channel = 0; channel < channels; channel += 1) output[to++] = data[from + channel];
    }
  }
  return output;
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
  filter: Exclude<PilFilter, "nearest">,
): Uint8Array {
  const { bounds, weights, ksize } = coefficients(inWidth, outWidth, filter);
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

/** Rounds `value` up to a multiple of 16. */
const align16 = (value: number): number => (value + 15) & ~15;

/** Both passes for one channel in WebAssembly; the same bytes as the TypeScript passes. */
function resizeInWasm(
  data: Uint8Array,
  base: number,
  stride: number,
  inWidth: number,
  inHeight: number,
  width: number,
  height: number,
  filter: Exclude<PilFilter, "nearest">,
): Uint8Array {
  const wasm = pilResizeWasm() as NonNullable<ReturnType<typeof pilResizeWasm>>;
  const vertical = coefficients(inHeight, height, filter);
  const firstRow = vertical.bounds[0];
  const rowCount = vertical.bounds[height * 2 - 2] + vertical.bounds[height * 2 - 1] - firstRow;
  const horizontal = width !== inWidth ? coefficients(inWidth, width, filter) : undefined;
  const groups = horizontal ? Math.ceil(horizontal.ksize / 8) : 0;
  // Layout: the rows read, coefficients, the horizontal pass's rows, the output; each block is
  // padded for the reads and writes the kernels make past its end.
  const rowsAt = 0;
  const boundsAt = align16(rowsAt + rowCount * inWidth + groups * 8 + 16);
  const highAt = align16(boundsAt + width * 4);
  const lowAt = align16(highAt + width * groups * 16);
  const passAt = align16(lowAt + width * groups * 16);
  const verticalBoundsAt = align16(passAt + rowCount * width + 16);
  const verticalWeightsAt = align16(verticalBoundsAt + height * 8);
  const outputAt = align16(verticalWeightsAt + height * vertical.ksize * 4);
  const end = align16(outputAt + height * width + 16);
  ensurePilResizeMemory(wasm, end);
  const buffer = wasm.memory.buffer;
  const bytes = new Uint8Array(buffer);
  for (let row = 0; row < rowCount; row += 1) {
    const from = base + (firstRow + row) * stride;
    bytes.set(data.subarray(from, from + inWidth), rowsAt + row * inWidth);
  }
  bytes.fill(0, rowsAt + rowCount * inWidth, boundsAt);
  let rowsForVertical = rowsAt;
  let rowLength = inWidth;
  if (horizontal) {
    const starts = new Int32Array(buffer, boundsAt, width);
    const high = new Int16Array(buffer, highAt, width * groups * 8);
    const low = new Int16Array(buffer, lowAt, width * groups * 8);
    high.fill(0);
    low.fill(0);
    for (let out = 0; out < width; out += 1) {
      starts[out] = horizontal.bounds[out * 2];
      const count = horizontal.bounds[out * 2 + 1];
      for (let tap = 0; tap < count; tap += 1) {
        const weight = horizontal.weights[out * horizontal.ksize + tap];
        high[out * groups * 8 + tap] = weight >> 11;
        low[out * groups * 8 + tap] = weight & 2047;
      }
    }
    wasm.horizontal(rowsAt, inWidth, rowCount, width, boundsAt, highAt, lowAt, groups, passAt);
    rowsForVertical = passAt;
    rowLength = width;
  }
  if (height === inHeight) {
    return bytes.slice(rowsForVertical, rowsForVertical + height * rowLength);
  }
  const bounds = new Int32Array(buffer, verticalBoundsAt, height * 2);
  for (let out = 0; out < height; out += 1) {
    bounds[out * 2] = vertical.bounds[out * 2] - firstRow;
    bounds[out * 2 + 1] = vertical.bounds[out * 2 + 1];
  }
  new Int32Array(buffer, verticalWeightsAt, height * vertical.ksize).set(vertical.weights);
  wasm.vertical(
    rowsForVertical,
    rowLength,
    height,
    verticalBoundsAt,
    verticalWeightsAt,
    vertical.ksize,
    outputAt,
    0,
    0,
  );
  return bytes.slice(outputAt, outputAt + height * width);
}
