/** Rows of feature vectors, row-major: `data[row * columns + column]`. */
export interface FeatureMatrix {
  /** `rows × columns` values, row-major. */
  data: Float32Array;
  /** Number of samples. */
  rows: number;
  /** Features per sample. */
  columns: number;
}

/** Checks that `matrix.data` holds `rows × columns` values; throws naming `what` otherwise. */
export function checkFeatureMatrix(matrix: FeatureMatrix, what: string): void {
  const { rows, columns, data } = matrix;
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(columns) || columns <= 0) {
    throw new RangeError(`${what}: bad shape ${rows} x ${columns}`);
  }
  if (data.length !== rows * columns) {
    throw new RangeError(
      `${what}: ${data.length} values for a ${rows} x ${columns} matrix (expected ${rows * columns})`,
    );
  }
}

/**
 * Divides every row by its L2 norm (at least 1e-12, as torch's `F.normalize`), returning a new
 * matrix. MedFM's Baseline fits its logistic regressions on such rows.
 */
export function l2NormalizeRows(matrix: FeatureMatrix): FeatureMatrix {
  checkFeatureMatrix(matrix, "l2NormalizeRows");
  const { rows, columns, data } = matrix;
  const out = new Float32Array(data.length);
  for (let row = 0; row < rows; row += 1) {
    const start = row * columns;
    let sum = 0;
    for (let column = 0; column < columns; column += 1) sum += data[start + column] ** 2;
    const inverse = 1 / Math.max(Math.sqrt(sum), 1e-12);
    for (let column = 0; column < columns; column += 1) {
      out[start + column] = data[start + column] * inverse;
    }
  }
  return { data: out, rows, columns };
}
