const marker = Symbol.for("medfm.models.BackendUnavailableError");

/** A backend that was asked for (by option or `MEDFM_BACKEND`) cannot be used here. */
export class BackendUnavailableError extends Error {
  readonly [marker] = true;
  /** The backend that was asked for. */
  readonly backend: string;

  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "BackendUnavailableError";
    this.backend = backend;
  }

  /** True for a `BackendUnavailableError` from any copy of this package. */
  static isInstance(error: unknown): error is BackendUnavailableError {
    return typeof error === "object" && error !== null && marker in error;
  }
}
