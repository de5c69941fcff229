/** A provisioning step failed; the message names the step, the program and its output. */
export class NativeBackendError extends Error {
  private readonly marker = Symbol.for("medfm.native-backend.NativeBackendError");

  constructor(message: string) {
    super(message);
    this.name = "NativeBackendError";
  }

  /** True for any `NativeBackendError`, also one made by another copy of this package. */
  static isInstance(error: unknown): error is NativeBackendError {
    return (
      typeof error === "object" &&
      error !== null &&
      (error as { marker?: unknown }).marker ===
        Symbol.for("medfm.native-backend.NativeBackendError")
    );
  }
}
