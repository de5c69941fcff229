const marker = Symbol.for("medfm.metrics.error");

/** Base class of every error thrown by @medfm/metrics. */
export class MetricsError extends Error {
  /** Marks instances across copies of this package, where `instanceof` fails. */
  readonly [marker] = true;

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "MetricsError";
  }

  /** Tells whether `error` is a MetricsError, from any copy of this package. */
  static isInstance(error: unknown): error is MetricsError {
    return typeof error === "object" && error !== null && marker in error;
  }
}

/** Inputs of different or inconsistent shapes (row counts, row lengths, class counts). */
export class MetricShapeError extends MetricsError {
  /** The argument at fault, like `scores` or `targets`. */
  readonly argument: string;
  /** The 0-based row at fault, when one is. */
  readonly row: number | undefined;

  constructor(argument: string, row: number | undefined, message: string) {
    super(`${argument}${row === undefined ? "" : ` row ${row}`}: ${message}`);
    this.name = "MetricShapeError";
    this.argument = argument;
    this.row = row;
  }
}

/** A value that a metric cannot use: a NaN or infinite score, a target that is not 0, 1 or -1. */
export class MetricValueError extends MetricsError {
  /** The argument at fault, like `scores` or `targets`. */
  readonly argument: string;
  /** The 0-based row at fault. */
  readonly row: number;
  /** The 0-based column (class) at fault; `undefined` for a 1-D input. */
  readonly column: number | undefined;
  /** The value at fault. */
  readonly value: unknown;

  constructor(
    argument: string,
    row: number,
    column: number | undefined,
    value: unknown,
    expected: string,
  ) {
    const where = column === undefined ? `row ${row}` : `row ${row} column ${column}`;
    super(`${argument} ${where} is ${String(value)}; expected ${expected}`);
    this.name = "MetricValueError";
    this.argument = argument;
    this.row = row;
    this.column = column;
    this.value = value;
  }
}

/** A metric option out of range, like `topK: 0` or `maxPoints: 1`. */
export class MetricOptionError extends MetricsError {
  /** The option at fault, like `topK`. */
  readonly option: string;

  constructor(option: string, message: string) {
    super(`${option}: ${message}`);
    this.name = "MetricOptionError";
    this.option = option;
  }
}

/** A results table for `challengeScore` with a missing, duplicate or invalid entry. */
export class ResultsTableError extends MetricsError {
  /** The 0-based table row at fault, when one is. */
  readonly row: number | undefined;

  constructor(row: number | undefined, message: string) {
    super(`results${row === undefined ? "" : ` row ${row}`}: ${message}`);
    this.name = "ResultsTableError";
    this.row = row;
  }
}
