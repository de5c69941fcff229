const marker = Symbol.for("medfm.track.error");

/** Base class of every error thrown by @medfm/track. */
export class TrackError extends Error {
  /** Marks instances across copies of this package, where `instanceof` fails. */
  readonly [marker] = true;
  /** Whether repeating the failed operation may succeed. */
  readonly isRetryable: boolean;

  constructor(message: string, options: { cause?: unknown; isRetryable?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = "TrackError";
    this.isRetryable = options.isRetryable ?? false;
  }

  /** Tells whether `error` is a TrackError, from any copy of this package. */
  static isInstance(error: unknown): error is TrackError {
    return typeof error === "object" && error !== null && marker in error;
  }
}

/** A value does not fit the field it is assigned to, or cannot be stored at all. */
export class FieldTypeError extends TrackError {
  /** The field path at fault, like `params/lr`. */
  readonly path: string;

  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "FieldTypeError";
    this.path = path;
  }
}

/** An operation is not allowed in the run's mode (a write in `read-only`, any use after `stop()`). */
export class RunModeError extends TrackError {
  constructor(message: string) {
    super(message);
    this.name = "RunModeError";
  }
}

/** Another process writes to this run now; a run has one writer at a time (`writer.lock`). */
export class RunBusyError extends TrackError {
  /** The run folder. */
  readonly folder: string;
  /** The process id of the writer, when known. */
  readonly pid: number | undefined;

  constructor(folder: string, holder: string, pid: number | undefined) {
    super(
      `run ${folder} is open for writing in ${holder}; a run takes one writer at a time, so stop it there first (the lock of a process that died is taken over on its own)`,
      { isRetryable: true },
    );
    this.name = "RunBusyError";
    this.folder = folder;
    this.pid = pid;
  }
}

/** A journal file is malformed or of an unknown version. */
export class JournalError extends TrackError {
  /** The journal file at fault. */
  readonly file: string;
  /** The 1-based line at fault, when one is. */
  readonly line: number | undefined;

  constructor(file: string, line: number | undefined, message: string) {
    super(`${file}${line === undefined ? "" : `:${line}`}: ${message}`);
    this.name = "JournalError";
    this.file = file;
    this.line = line;
  }
}
