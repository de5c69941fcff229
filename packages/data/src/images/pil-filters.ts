// Pillow's resampling filters and the coefficient tables its two-pass resampler builds from them
// (libImaging/Resample.c: the filter functions, precompute_coeffs and normalize_coeffs_8bpc),
// written term for term so that the doubles, and the 22-bit integers rounded from them, are
// Pillow's. Shared by the 8-bit resampler (pil-resize.ts) and the 16-bit one (pil-resize-16.ts).

/**
 * Pillow's resampling filters (`Image.Resampling`): `"nearest"` picks one source pixel; the
 * others are convolutions widened by the scale factor when shrinking (antialiased), with
 * supports box 0.5, bilinear 1, hamming 1, bicubic 2 (a = -0.5) and lanczos 3.
 */
export type PilFilter = "nearest" | "box" | "bilinear" | "hamming" | "bicubic" | "lanczos";

/** A convolution filter: its function of the distance and its support radius. */
interface FilterKernel {
  weight(x: number): number;
  support: number;
}

// `0.54f` and `0.46f` in Resample.c are float literals, promoted to double in the sum.
const hammingA = Math.fround(0.54);
const hammingB = Math.fround(0.46);

function sinc(value: number): number {
  if (value === 0) return 1;
  const x = value * Math.PI;
  return Math.sin(x) / x;
}

const kernels: Record<Exclude<PilFilter, "nearest">, FilterKernel> = {
  box: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: {
    support: 1,
    weight: (value) => {
      const x = value < 0 ? -value : value;
      return x < 1 ? 1 - x : 0;
    },
  },
  hamming: {
    support: 1,
    weight: (value) => {
      let x = value < 0 ? -value : value;
      if (x === 0) return 1;
      if (x >= 1) return 0;
      x *= Math.PI;
      return (Math.sin(x) / x) * (hammingA + hammingB * Math.cos(x));
    },
  },
  bicubic: {
    support: 2,
    weight: (value) => {
      const a = -0.5;
      const x = value < 0 ? -value : value;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: {
    support: 3,
    weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0),
  },
};

/** Per output pixel: the first input index and the tap count, then `ksize` weights. */
export interface PilCoefficients {
  /** `first, count` pairs, one per output pixel. */
  bounds: Int32Array;
  /** `ksize` normalized weights per output pixel (zero past its `count` taps). */
  weights: Float64Array;
  /** Weights stored per output pixel. */
  ksize: number;
}

/**
 * Resample.c's precompute_coeffs for a box `[0, inSize)` resized to `outSize` with `filter`:
 * the filter widened by the scale when shrinking, taps centred on `(out + 0.5) * scale`, clipped
 * to the box and normalized to sum 1.
 */
export function pilCoefficients(
  inSize: number,
  outSize: number,
  filter: Exclude<PilFilter, "nearest">,
): PilCoefficients {
  const kernel = kernels[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = kernel.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Float64Array(outSize * ksize);
  const inverse = 1 / filterScale;
  for (let out = 0; out < outSize; out += 1) {
    const center = (out + 0.5) * scale;
    const first = Math.max(0, Math.trunc(center - support + 0.5));
    const count = Math.min(inSize, Math.trunc(center + support + 0.5)) - first;
    const at = out * ksize;
    let sum = 0;
    for (let tap = 0; tap < count; tap += 1) {
      const weight = kernel.weight((tap + first - center + 0.5) * inverse);
      weights[at + tap] = weight;
      sum += weight;
    }
    if (sum !== 0) for (let tap = 0; tap < count; tap += 1) weights[at + tap] /= sum;
    bounds[out * 2] = first;
    bounds[out * 2 + 1] = count;
  }
  return { bounds, weights, ksize };
}

/** Fractional bits of the 8-bit resampler's fixed-point weights (Resample.c's PRECISION_BITS). */
export const pilPrecisionBits = 22;

/** normalize_coeffs_8bpc: each weight rounded half away from zero to 22-bit fixed point. */
export function pilFixedPointWeights(weights: Float64Array): Int32Array {
  const one = 1 << pilPrecisionBits;
  const fixed = new Int32Array(weights.length);
  for (let index = 0; index < weights.length; index += 1) {
    const weight = weights[index];
    fixed[index] = weight < 0 ? Math.trunc(-0.5 + weight * one) : Math.trunc(0.5 + weight * one);
  }
  return fixed;
}

/**
 * The source index of each output pixel of Pillow's NEAREST resize (ImagingScaleAffine, which
 * `Image.resize` uses for NEAREST): a position starting at `scale / 2` and advanced by `scale`
 * per pixel, accumulated in double precision as Pillow does, then truncated.
 */
export function pilNearestIndices(inSize: number, outSize: number): Int32Array {
  const scale = inSize / outSize;
  const indices = new Int32Array(outSize);
  let position = scale * 0.5;
  for (let out = 0; out < outSize; out += 1) {
    indices[out] = Math.min(inSize - 1, Math.trunc(position));
    position += scale;
  }
  return indices;
}
