const marker = Symbol.for("medfm.data.ImageError");

/** An image that could not be read, decoded or transformed; the message names the file. */
export class ImageError extends Error {
  readonly [marker] = true;
  /** The file (or the caller's name for a buffer) that failed. */
  readonly file: string;
  /** What went wrong, without the file name (the message is `file: reason`). */
  readonly reason: string;

  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = "ImageError";
    this.file = file;
    this.reason = message;
  }

  /** Whether `error` is an `ImageError`, across copies of this package. */
  static isInstance(error: unknown): error is ImageError {
    return typeof error === "object" && error !== null && marker in error;
  }
}
