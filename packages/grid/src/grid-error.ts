const marker = Symbol.for("medfm.grid.error");

/** Base class of every error thrown by @medfm/grid. */
export class GridError extends Error {
  /** Marks instances across copies of this package, where `instanceof` fails. */
  readonly [marker] = true;

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "GridError";
  }

  /** Tells whether `error` is a GridError, from any copy of this package. */
  static isInstance(error: unknown): error is GridError {
    return typeof error === "object" && error !== null && marker in error;
  }
}

/** A plan's options or a plan file are malformed; the message names the option or file and value. */
export class GridPlanError extends GridError {
  constructor(message: string) {
    super(message);
    this.name = "GridPlanError";
  }
}

/**
 * A job's configuration cannot run (an unknown task or method, a bad number). Running it again
 * cannot help, so a worker fails such a job at once, without retries.
 */
export class GridJobConfigError extends GridError {
  /** The configuration field at fault, like `method`. */
  readonly field: string;

  constructor(field: string, message: string) {
    super(`invalid job configuration: ${field}: ${message}`);
    this.name = "GridJobConfigError";
    this.field = field;
  }
}

/** A Redis URL cannot be used; the message shows the URL without its password. */
export class RedisUrlError extends GridError {
  constructor(message: string) {
    super(message);
    this.name = "RedisUrlError";
  }
}
