const MARKER = Symbol.for("medfm.models.StateDictError");

/** What went wrong when loading a state dict. */
export interface StateDictErrorDetails {
  /** Where the state came from (a file path or a description). */
  source: string;
  /** Model keys the state lacks. */
  missing: string[];
  /** State keys the model does not have. */
  unexpected: string[];
  /** `key: expected [..], got [..]` for tensors of the wrong shape. */
  mismatched: string[];
}

/** A state dict that does not fit the model; lists every missing, unexpected and mismatched key. */
export class StateDictError extends Error {
  readonly [MARKER] = true;
  /** Where the state came from. */
  readonly source: string;
  /** Model keys the state lacks. */
  readonly missing: string[];
  /** State keys the model does not have. */
  readonly unexpected: string[];
  /** Tensors of the wrong shape, as `key: expected [..], got [..]`. */
  readonly mismatched: string[];

  constructor(details: StateDictErrorDetails) {
    const parts: string[] = [];
    const list = (keys: string[]) => keys.map((key) => `\n  ${key}`).join("");
    if (details.missing.length > 0)
      parts.push(`missing keys (${details.missing.length}):${list(details.missing)}`);
    if (details.unexpected.length > 0) {
      parts.push(`unexpected keys (${details.unexpected.length}):${list(details.unexpected)}`);
    }
    if (details.mismatched.length > 0) {
      parts.push(`shape mismatches (${details.mismatched.length}):${list(details.mismatched)}`);
    }
    super(`${details.source}: state dict does not fit the model; ${parts.join("\n")}`);
    this.name = "StateDictError";
    this.source = details.source;
    this.missing = details.missing;
    this.unexpected = details.unexpected;
    this.mismatched = details.mismatched;
  }

  /** True for a StateDictError, even one from another copy of this package. */
  static isInstance(error: unknown): error is StateDictError {
    return typeof error === "object" && error !== null && MARKER in error;
  }
}
