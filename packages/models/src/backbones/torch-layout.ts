/**
 * Permutes the axes of a row-major array, as `tensor.permute(permutation)` would in torch,
 * without tfjs (backbone specs convert published weights before any tensor exists). Returns
 * the permuted values and shape.
 */
export function permuteValues(
  values: Float32Array,
  shape: readonly number[],
  permutation: readonly number[],
): { values: Float32Array; shape: number[] } {
  const rank = shape.length;
  if (permutation.length !== rank || [...permutation].sort().some((axis, i) => axis !== i)) {
    throw new RangeError(
      `permuteValues: permutation [${permutation.join(", ")}] does not fit shape [${shape.join(", ")}]`,
    );
  }
  const size = shape.reduce((product, extent) => product * extent, 1);
  if (size !== values.length) {
    throw new RangeError(
      `permuteValues: ${values.length} values for shape [${shape.join(", ")}] (${size})`,
    );
  }
  const outShape = permutation.map((axis) => shape[axis]);
  const inStrides = new Array<number>(rank).fill(1);
  for (let axis = rank - 2; axis >= 0; axis -= 1)
    inStrides[axis] = inStrides[axis + 1] * shape[axis + 1];
  // Stride in the source of each output axis.
  const strides = permutation.map((axis) => inStrides[axis]);
  const result = new Float32Array(size);
  const index = new Array<number>(rank).fill(0);
  let source = 0;
  for (let target = 0; target < size; target += 1) {
    result[target] = values[source];
    for (let axis = rank - 1; axis >= 0; axis -= 1) {
      index[axis] += 1;
      source += strides[axis];
      if (index[axis] < outShape[axis]) break;
      source -= strides[axis] * outShape[axis];
      index[axis] = 0;
    }
  }
  return { values: result, shape: outShape };
}

/** Torch convolution weights OIHW → channels-last HWIO, the layout tfjs's `conv2d` takes. */
export const OIHW_TO_HWIO: readonly number[] = Object.freeze([2, 3, 1, 0]);
/** The inverse of {@link OIHW_TO_HWIO}. */
export const HWIO_TO_OIHW: readonly number[] = Object.freeze([3, 2, 0, 1]);
