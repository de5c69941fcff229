// Pillow's resampler for 16-bit images (mode "I;16", what Pillow 10 and later open a 16-bit
// grayscale PNG as): the same coefficient tables as the 8-bit path (pil-filters.ts) but kept in
// double precision, each output a double sum over its taps in Pillow's order, rounded half away
// from zero (Resample.c's ROUND_UP) and stored as Pillow 10-12 store it, after the horizontal
// pass and again after the vertical one. JavaScript numbers are IEEE doubles, so the sums are
// Pillow's exactly. Checked against Pillow 12.1 (scripts/fixtures/images/
// make-resize-parity-fixtures.py); Pillow 13 differs, see packages/data/README.md.

import { type PilFilter, pilCoefficients } from "./pil-filters";
import type { PilResizeRegion } from "./pil-resize";
import { assertResizeArguments, copyRows } from "./resize-options";

/** 16-bit interleaved pixels (HWC) read by {@link pilResize16}. */
export interface PilResize16Source {
  /** `height × width × channels` samples, row after row. */
  data: Uint16Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Samples per pixel; each channel is resampled on its own, as one "I;16" image. */
  channels: number;
}

/**
 * Resample.c's ROUND_UP (half away from zero), then the sample as Pillow 10-12 write it: the low
 * byte `CLIP8(value % 256)` and the high byte `CLIP8(value >> 8)` clipped apart, so a negative
 * sum gives 0 but an overshoot above 65535 (bicubic, lanczos next to a white edge) gives
 * `0xFF00 | (value & 0xFF)`, not 65535.
 */
function round16(sum: number): number {
  const value = Math.trunc(sum >= 0 ? sum + 0.5 : sum - 0.5);
  if (value < 0) return 0;
  if (value > 65535) return 0xff00 | (value & 0xff);
  return value;
}

/**
 * Source indices of Pillow's NEAREST for "I;16" images along one axis. Pillow resizes these
 * through its generic affine transform (Geometry.c), which computes each position afresh as
 * `trunc(scale * (out + 0.5))`; the 8-bit fast path adds `scale` step by step instead
 * (`pilNearestIndices`), so the two pick different pixels where a position is an exact integer.
 */
function nearestIndices16(inSize: number, outSize: number): Int32Array {
  const scale = inSize / outSize;
  const indices = new Int32Array(outSize);
  for (let out = 0; out < outSize; out += 1) {
    indices[out] = Math.min(inSize - 1, Math.trunc(scale * (out + 0.5)));
  }
  return indices;
}

/**
 * Resizes 16-bit pixels to `width × height` with one of Pillow's filters (default BICUBIC),
 * giving Pillow's `image.crop(region).resize((width, height), filter)` of an "I;16" image
 * sample for sample. Channels are resampled independently (Pillow has no 16-bit RGB mode; it
 * reads 16-bit RGB PNGs as 8-bit RGB). Returns `height × width × channels` samples.
 */
export function pilResize16(
  source: PilResize16Source,
  width: number,
  height: number,
  region: PilResizeRegion = { left: 0, top: 0, width: source.width, height: source.height },
  filter: PilFilter = "bicubic",
): Uint16Array {
  const { data, channels } = source;
  assertResizeArguments("pilResize16", source, width, height, region);
  const stride = source.width * channels;
  const base = region.top * stride + region.left * channels;
  const inWidth = region.width;
  const inHeight = region.height;
  if (width === inWidth && height === inHeight) {
    return copyRows(data, base, stride, width * channels, height);
  }
  if (filter === "nearest") {
    const columns = nearestIndices16(inWidth, width);
    const rows = nearestIndices16(inHeight, height);
    const output = new Uint16Array(width * height * channels);
    let to = 0;
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const from = base + rows[y] * stride + columns[x] * channels;
        for (let channel = 0; channel < channels; channel += 1) output[to++] = data[from + channel];
      }
    }
    return output;
  }
  const vertical = pilCoefficients(inHeight, height, filter);
  const firstRow = vertical.bounds[0];
  const lastRow = vertical.bounds[height * 2 - 2] + vertical.bounds[height * 2 - 1];
  let rows: Uint16Array = data;
  let rowStride = stride;
  let rowBase = base;
  if (width !== inWidth) {
    // ImagingResampleHorizontal_16bpc over the rows the vertical pass reads.
    const { bounds, weights, ksize } = pilCoefficients(inWidth, width, filter);
    const rowCount = lastRow - firstRow;
    rows = new Uint16Array(rowCount * width * channels);
    let to = 0;
    for (let row = 0; row < rowCount; row += 1) {
      const rowStart = base + (firstRow + row) * stride;
      for (let out = 0; out < width; out += 1) {
        const first = rowStart + bounds[out * 2] * channels;
        const count = bounds[out * 2 + 1];
        const kernel = out * ksize;
        for (let channel = 0; channel < channels; channel += 1) {
          let sum = 0;
          for (let tap = 0, at = first + channel; tap < count; tap += 1, at += channels) {
            sum += data[at] * weights[kernel + tap];
          }
          rows[to++] = round16(sum);
        }
      }
    }
    rowStride = width * channels;
    rowBase = -firstRow * rowStride;
  }
  if (height === inHeight) return rows;
  // ImagingResampleVertical_16bpc: per sample, the taps summed top to bottom.
  const rowLength = width * channels;
  const { bounds, weights, ksize } = vertical;
  const output = new Uint16Array(height * rowLength);
  const sums = new Float64Array(rowLength);
  for (let out = 0; out < height; out += 1) {
    sums.fill(0);
    const first = bounds[out * 2];
    const count = bounds[out * 2 + 1];
    for (let tap = 0; tap < count; tap += 1) {
      const weight = weights[out * ksize + tap];
      const from = rowBase + (first + tap) * rowStride;
      for (let x = 0; x < rowLength; x += 1) sums[x] += rows[from + x] * weight;
    }
    const to = out * rowLength;
    for (let x = 0; x < rowLength; x += 1) output[to + x] = round16(sums[x]);
  }
  return output;
}
