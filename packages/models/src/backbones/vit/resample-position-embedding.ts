import * as tf from "@tensorflow/tfjs";

/** Keys' cubic convolution kernel with a = −0.5, as torch's antialiased bicubic filter. */
function antialiasedCubic(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/**
 * The `[outSize, inSize]` matrix of one axis of `F.interpolate(mode="bicubic", antialias=True,
 * align_corners=False)` (torch's `_compute_indices_min_size_weights_aa`): row i weighs the inputs
 * around `(i + 0.5)·in/out`, the kernel widened by the scale when shrinking, weights normalised.
 */
export function bicubicAntialiasMatrix(inSize: number, outSize: number): Float32Array {
  const matrix = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2;
  const inverseScale = scale >= 1 ? 1 / scale : 1;
  for (let row = 0; row < outSize; row += 1) {
    const centre = scale * (row + 0.5);
    const start = Math.max(Math.trunc(centre - support + 0.5), 0);
    const count = Math.min(Math.trunc(centre + support + 0.5), inSize) - start;
    const weights: number[] = [];
    let total = 0;
    for (let j = 0; j < count; j += 1) {
      const weight = antialiasedCubic((j + start - centre + 0.5) * inverseScale);
      weights.push(weight);
      total += weight;
    }
    for (let j = 0; j < count; j += 1) {
      matrix[row * inSize + start + j] = total !== 0 ? weights[j] / total : 0;
    }
  }
  return matrix;
}

/**
 * The `[outSize, inSize]` matrix of one axis of `F.interpolate(mode="bicubic", antialias=False,
 * align_corners=False)` (torch's `upsample_bicubic2d`, as transformers' `interpolate_pos_encoding`
 * calls it): source `(i + 0.5)·in/out − 0.5`, Keys' kernel with a = −0.75 over four neighbours,
 * indices clamped at the borders.
 */
export function bicubicMatrix(inSize: number, outSize: number): Float32Array {
  const a = -0.75;
  const near = (t: number) => ((a + 2) * t - (a + 3)) * t * t + 1;
  const far = (t: number) => ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  const matrix = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let row = 0; row < outSize; row += 1) {
    const source = scale * (row + 0.5) - 0.5;
    const base = Math.floor(source);
    const t = source - base;
    const weights = [far(t + 1), near(t), near(1 - t), far(2 - t)];
    weights.forEach((weight, offset) => {
      const index = Math.min(Math.max(base - 1 + offset, 0), inSize - 1);
      matrix[row * inSize + index] += weight;
    });
  }
  return matrix;
}

/** Which of torch's bicubic filters resamples a position embedding. */
export type PositionInterpolation = "bicubic-antialias" | "bicubic";

/**
 * timm's `resample_abs_pos_embed` on the patch part of a position embedding: the `[1, oldH·oldW, D]`
 * grid resized to `[1, newH·newW, D]` by antialiased bicubic interpolation (timm's default; plain
 * `"bicubic"` is transformers' `interpolate_pos_encoding`), as
 * two matrix products so that gradients reach the embedding. Returns the input when the sizes
 * agree, as timm does.
 */
export function resamplePositionEmbedding(
  patchEmbedding: tf.Tensor3D,
  oldSize: readonly [number, number],
  newSize: readonly [number, number],
  interpolation: PositionInterpolation = "bicubic-antialias",
): tf.Tensor3D {
  const [oldHeight, oldWidth] = oldSize;
  const [newHeight, newWidth] = newSize;
  if (oldHeight === newHeight && oldWidth === newWidth) return patchEmbedding;
  const dim = patchEmbedding.shape[2];
  return tf.tidy(() => {
    const matrix = interpolation === "bicubic" ? bicubicMatrix : bicubicAntialiasMatrix;
    const rows = tf.tensor2d(matrix(oldHeight, newHeight), [newHeight, oldHeight]);
    const columns = tf.tensor2d(matrix(oldWidth, newWidth), [newWidth, oldWidth]);
    // [oldH, oldW·D] → rows → [newH, oldW, D] → [oldW, newH·D] → columns → [newW, newH, D].
    const byRows = tf.matMul(rows, tf.reshape(patchEmbedding, [oldHeight, oldWidth * dim]));
    const swapped = tf.reshape(
      tf.transpose(tf.reshape(byRows, [newHeight, oldWidth, dim]), [1, 0, 2]),
      [oldWidth, newHeight * dim],
    );
    const byColumns = tf.reshape(tf.matMul(columns, swapped), [newWidth, newHeight, dim]);
    return tf.reshape(tf.transpose(byColumns, [1, 0, 2]), [1, newHeight * newWidth, dim]);
  });
}
