import { MetricShapeError, MetricValueError } from "./metrics-error";

/** A 1-D array of numbers: a plain array or any numeric typed array. */
export type NumericArray =
  | readonly number[]
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

/** A matrix stored row-major in one flat array, with its `[rows, columns]` shape. */
export interface FlatMatrix {
  /** The values, row after row; `data.length` must equal `rows * columns`. */
  readonly data: NumericArray;
  /** `[rows, columns]`: rows are samples, columns are classes. */
  readonly shape: readonly [number, number];
}

/**
 * A score or target matrix, rows = samples and columns = classes: either an array of rows (each a
 * `number[]` or typed array, all of one length) or a {@link FlatMatrix}.
 */
export type MatrixInput = readonly NumericArray[] | FlatMatrix;

/** A typed array a validated matrix may hold. */
export type DenseData =
  | Float64Array
  | Float32Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array;

/**
 * A validated matrix, row-major in a typed array. A flat typed input is used as it is (not
 * copied: nothing here writes to it), so Float32Array scores stay float32 all the way to the sort.
 */
export interface DenseMatrix {
  /** Number of rows (samples). */
  readonly rows: number;
  /** Number of columns (classes). */
  readonly columns: number;
  /** The values, row after row. */
  readonly data: DenseData;
}

/** A validated 1-D input as a one-column matrix, copied into a Float64Array. */
export interface DenseVector extends DenseMatrix {
  /** The values. */
  readonly data: Float64Array;
}

function isFlatMatrix(input: unknown): input is FlatMatrix {
  return (
    typeof input === "object" &&
    input !== null &&
    !Array.isArray(input) &&
    "shape" in input &&
    "data" in input
  );
}

/** Tells whether `input` is a matrix (array of rows or {@link FlatMatrix}) rather than a 1-D array. */
export function isMatrixInput(input: unknown): input is MatrixInput {
  if (isFlatMatrix(input)) return true;
  if (!Array.isArray(input)) return false;
  return input.length > 0 && typeof input[0] === "object" && input[0] !== null;
}

function toDense(input: MatrixInput, argument: string): DenseMatrix {
  if (isFlatMatrix(input)) {
    const [rows, columns] = input.shape;
    if (!Number.isInteger(rows) || !Number.isInteger(columns) || rows < 0 || columns < 0) {
      throw new MetricShapeError(argument, undefined, `shape [${rows}, ${columns}] is not valid`);
    }
    if (input.data.length !== rows * columns) {
      throw new MetricShapeError(
        argument,
        undefined,
        `data has ${input.data.length} values but shape [${rows}, ${columns}] needs ${rows * columns}`,
      );
    }
    const data = ArrayBuffer.isView(input.data)
      ? (input.data as DenseData)
      : new Float64Array(input.data as ArrayLike<number>);
    return { rows, columns, data };
  }
  if (!Array.isArray(input)) {
    throw new MetricShapeError(
      argument,
      undefined,
      "expected an array of rows or { data, shape: [rows, columns] }",
    );
  }
  const rows = input.length;
  const columns = rows === 0 ? 0 : rowLength(input[0], argument, 0);
  const data = new Float64Array(rows * columns);
  for (let row = 0; row < rows; row++) {
    const values = input[row];
    const length = rowLength(values, argument, row);
    if (length !== columns) {
      throw new MetricShapeError(argument, row, `has ${length} columns but row 0 has ${columns}`);
    }
    const offset = row * columns;
    for (let column = 0; column < columns; column++) data[offset + column] = values[column];
  }
  return { rows, columns, data };
}

function rowLength(row: unknown, argument: string, index: number): number {
  if (
    row === null ||
    typeof row !== "object" ||
    typeof (row as { length?: unknown }).length !== "number"
  ) {
    throw new MetricShapeError(argument, index, `is ${String(row)}; expected an array of numbers`);
  }
  return (row as ArrayLike<number>).length;
}

function checkScores(matrix: DenseMatrix, argument: string): void {
  const { data, columns } = matrix;
  for (let index = 0; index < data.length; index++) {
    const value = data[index];
    // `value - value` is NaN for NaN and ±Infinity, 0 otherwise: one test for both.
    if (value - value !== 0) {
      throw new MetricValueError(
        argument,
        Math.floor(index / columns),
        index % columns,
        value,
        "a finite number",
      );
    }
  }
}

function checkTargets(matrix: DenseMatrix, argument: string, allowIgnored: boolean): void {
  const { data, columns } = matrix;
  for (let index = 0; index < data.length; index++) {
    const value = data[index];
    if (value !== 0 && value !== 1 && !(allowIgnored && value === -1)) {
      throw new MetricValueError(
        argument,
        Math.floor(index / columns),
        index % columns,
        value,
        allowIgnored ? "0, 1 or -1 (ignored)" : "0 or 1",
      );
    }
  }
}

/**
 * Validates a score matrix: rows of equal length, every value finite. Returns a row-major copy.
 * Throws {@link MetricShapeError} or {@link MetricValueError} naming the row and column at fault.
 */
export function readScoreMatrix(input: MatrixInput, argument = "scores"): DenseMatrix {
  const matrix = toDense(input, argument);
  checkScores(matrix, argument);
  return matrix;
}

/**
 * Validates a target matrix: rows of equal length, every value 0, 1 or (when `allowIgnored`,
 * the default) -1, which marks a sample to leave out of that class. Returns a row-major copy.
 */
export function readTargetMatrix(
  input: MatrixInput,
  argument = "targets",
  allowIgnored = true,
): DenseMatrix {
  const matrix = toDense(input, argument);
  checkTargets(matrix, argument, allowIgnored);
  return matrix;
}

/** Validates 1-D scores (every value finite) and returns them as a one-column matrix. */
export function readScoreVector(input: NumericArray, argument = "scores"): DenseVector {
  const matrix = vectorToDense(input, argument);
  checkScoresVector(matrix, argument);
  return matrix;
}

/** Validates 1-D binary targets (0, 1, or -1 for ignored) and returns a one-column matrix. */
export function readTargetVector(input: NumericArray, argument = "targets"): DenseVector {
  const matrix = vectorToDense(input, argument);
  for (let row = 0; row < matrix.rows; row++) {
    const value = matrix.data[row];
    if (value !== 0 && value !== 1 && value !== -1) {
      throw new MetricValueError(argument, row, undefined, value, "0, 1 or -1 (ignored)");
    }
  }
  return matrix;
}

function vectorToDense(input: NumericArray, argument: string): DenseVector {
  if (input === null || typeof input !== "object" || typeof input.length !== "number") {
    throw new MetricShapeError(argument, undefined, "expected a 1-D array of numbers");
  }
  if (Array.isArray(input) && input.length > 0 && typeof input[0] === "object") {
    throw new MetricShapeError(argument, undefined, "expected a 1-D array, got an array of rows");
  }
  return { rows: input.length, columns: 1, data: new Float64Array(input as ArrayLike<number>) };
}

function checkScoresVector(matrix: DenseVector, argument: string): void {
  const { data } = matrix;
  for (let row = 0; row < data.length; row++) {
    const value = data[row];
    if (value - value !== 0) {
      throw new MetricValueError(argument, row, undefined, value, "a finite number");
    }
  }
}

/** Throws {@link MetricShapeError} unless `scores` and `targets` have the same shape. */
export function assertSameShape(
  scores: DenseMatrix,
  targets: DenseMatrix,
  names: readonly [string, string] = ["scores", "targets"],
): void {
  if (scores.rows !== targets.rows || scores.columns !== targets.columns) {
    throw new MetricShapeError(
      names[1],
      undefined,
      `shape [${targets.rows}, ${targets.columns}] does not match ${names[0]} shape [${scores.rows}, ${scores.columns}]`,
    );
  }
}

/**
 * Validates class labels, one per row: integers in `[0, classes)`. Accepts a 1-D array of class
 * indices or a one-hot matrix (exactly one 1 per row). Returns the indices.
 */
export function readClassLabels(
  input: NumericArray | MatrixInput,
  classes: number,
  argument = "targets",
): Int32Array {
  if (isMatrixInput(input)) {
    const matrix = readTargetMatrix(input, argument, false);
    if (matrix.columns !== classes) {
      throw new MetricShapeError(
        argument,
        undefined,
        `has ${matrix.columns} columns but scores have ${classes} classes`,
      );
    }
    const labels = new Int32Array(matrix.rows);
    for (let row = 0; row < matrix.rows; row++) {
      let found = -1;
      for (let column = 0; column < classes; column++) {
        if (matrix.data[row * classes + column] !== 1) continue;
        if (found !== -1) {
          throw new MetricValueError(argument, row, column, 1, "exactly one 1 per row (one-hot)");
        }
        found = column;
      }
      if (found === -1) {
        throw new MetricValueError(
          argument,
          row,
          undefined,
          "all zeros",
          "one 1 per row (one-hot)",
        );
      }
      labels[row] = found;
    }
    return labels;
  }
  const vector = vectorToDense(input as NumericArray, argument);
  const labels = new Int32Array(vector.rows);
  for (let row = 0; row < vector.rows; row++) {
    const value = vector.data[row];
    if (!Number.isInteger(value) || value < 0 || value >= classes) {
      throw new MetricValueError(
        argument,
        row,
        undefined,
        value,
        `a class index from 0 to ${classes - 1}`,
      );
    }
    labels[row] = value;
  }
  return labels;
}

/** Copies column `column` of `matrix` into a new Float64Array. */
export function matrixColumn(matrix: DenseMatrix, column: number): Float64Array {
  const { rows, columns, data } = matrix;
  const out = new Float64Array(rows);
  for (let row = 0, index = column; row < rows; row++, index += columns) out[row] = data[index];
  return out;
}

/** Splits a matrix into its columns in one row-by-row pass, each column made by `create`. */
export function matrixColumns<Column extends Float64Array | Float32Array | Int8Array>(
  matrix: DenseMatrix,
  create: (length: number) => Column,
): Column[] {
  const { rows, columns, data } = matrix;
  const out = Array.from({ length: columns }, () => create(rows));
  for (let row = 0, offset = 0; row < rows; row++, offset += columns) {
    for (let column = 0; column < columns; column++) out[column][row] = data[offset + column];
  }
  return out;
}
